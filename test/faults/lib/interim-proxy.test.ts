// The fault suite's interim-response proxy, against raw TLS upstreams: exactly
// which bytes the client receives, that only disk GETs get interim responses, and
// that resets travel through it as resets.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { connect, createSecureContext, createServer as createTlsServer, TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chunkedPieces, closeRawServers, get, rawServer, selfSignedTls, sleep, writePieces } from '../../transfer/helpers/raw-server.js';
import { startInterimProxy, type InterimProxy } from './interim-proxy.js';

let tls: { key: string; cert: string };
const proxies: InterimProxy[] = [];

beforeAll(() => {
  tls = selfSignedTls();
});

afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  closeRawServers();
});

async function proxyTo(upstreamUrl: string): Promise<InterimProxy> {
  const proxy = await startInterimProxy({ upstream: new URL(upstreamUrl).host, tls });
  proxies.push(proxy);
  return proxy;
}

/** Sends `request` over TLS to `hostPort` and collects every byte until the server closes (or an error). */
function exchange(hostPort: string, request: string): Promise<{ bytes: Buffer; error?: string }> {
  const [host, port] = [hostPort.split(':')[0]!, Number(hostPort.split(':')[1])];
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const socket = connect({ host, port, rejectUnauthorized: false }, () => socket.write(request));
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ bytes: Buffer.concat(parts), error: err.code ?? err.message }));
    socket.on('close', () => resolve({ bytes: Buffer.concat(parts) }));
  });
}

const KEPT = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
const RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello';
const respondAndClose = (response: string) => (socket: Socket) => socket.end(response);

describe('interim proxy', () => {
  it('puts interim responses right in front of a disk GET\'s response, cycling 100, 103, both, a run', async () => {
    const proxy = await proxyTo(await rawServer(respondAndClose(RESPONSE), tls));
    proxy.setInjecting(true);
    const expected = [
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n'.repeat(2) + 'HTTP/1.1 100 Continue\r\n\r\n',
    ];
    const paths = ['/nfc/lease-1/disk-0.vmdk', '/folder/vm/disk-flat.vmdk?dcPath=DC0&dsName=LocalDS_0', '/nfc/x/y', '/folder/z'];
    for (const [i, path] of paths.entries()) {
      const { bytes, error } = await exchange(proxy.listen, `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      expect(error).toBeUndefined();
      expect(bytes.toString('latin1')).toBe(expected[i]! + RESPONSE);
    }
    expect(proxy.stats()).toEqual({ diskRequests: 4, responsesPreceded: 4, interim: { 100: 3, 103: 4 } });
    expect(proxy.armed()).toBe(0);
  });

  it('passes everything else through byte for byte: SOAP, HEAD, other paths, a disk GET while not injecting', async () => {
    let seen = '';
    const upstream = await rawServer((socket, head) => {
      seen = head;
      socket.end(RESPONSE);
    }, tls);
    const proxy = await proxyTo(upstream);
    proxy.setInjecting(true);
    const body = '<soapenv:Envelope/>';
    for (const request of [
      `POST /sdk HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      'HEAD /folder/vm/disk-flat.vmdk HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /about HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /sdk/vimServiceVersions.xml HTTP/1.1\r\nhost: x\r\n\r\n',
    ]) {
      const { bytes } = await exchange(proxy.listen, request);
      expect(bytes.toString('latin1')).toBe(RESPONSE);
      // The upstream saw the request as sent (its body may come in a later read).
      expect(request.startsWith(seen) && seen.includes('\r\n\r\n')).toBe(true);
    }
    proxy.setInjecting(false);
    expect((await exchange(proxy.listen, 'GET /nfc/a/b HTTP/1.1\r\nhost: x\r\n\r\n')).bytes.toString('latin1')).toBe(RESPONSE);
    expect(proxy.stats()).toEqual({ diskRequests: 1, responsesPreceded: 0, interim: { 100: 0, 103: 0 } });
  });

  it('leaves a kept-alive connection alone: a disk GET after a SOAP request on it passes through', async () => {
    // An upstream that answers every request on a connection and keeps it open.
    const server = createTlsServer(tls, (socket) => {
      socket.on('error', () => undefined);
      socket.on('data', () => socket.write(KEPT));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = await proxyTo(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    proxy.setInjecting(true);
    const [host, port] = proxy.listen.split(':');
    const socket = connect({ host, port: Number(port), rejectUnauthorized: false });
    try {
      const replies: string[] = [];
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      for (const request of ['POST /sdk HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}', 'GET /nfc/a/b HTTP/1.1\r\nhost: x\r\n\r\n']) {
        got = '';
        socket.write(request);
        for (let i = 0; i < 100 && got.length < KEPT.length; i++) await sleep(20);
        replies.push(got);
      }
      expect(replies).toEqual([KEPT, KEPT]);
      expect(proxy.stats().responsesPreceded).toBe(0);
    } finally {
      socket.destroy();
      server.close();
    }
  });

  it('delivers a chunked disk body intact behind the interim responses (the fixed client reads all of it)', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const upstream = await rawServer(async (socket) => {
      await writePieces(socket, ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', ...chunkedPieces(data, 64 * 1024)], 0);
      socket.end();
    }, tls);
    const proxy = await proxyTo(upstream);
    proxy.setInjecting(true);
    for (let i = 0; i < 4; i++) {
      const res = await get(`https://${proxy.listen}/nfc/lease/disk-${i}.vmdk`, { insecure: true });
      const hash = createHash('sha256');
      let n = 0;
      await res.body.read({
        data: (view) => {
          hash.update(view);
          n += view.length;
          return true;
        },
      });
      expect(res.statusCode).toBe(200);
      expect(n).toBe(data.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    }
    expect(proxy.stats().responsesPreceded).toBe(4);
  });

  it('relays an upstream reset as a reset, and resets open disk connections on demand', async () => {
    // An upstream that answers the start of a chunked body, then resets /sdk connections (its raw socket: a real RST).
    const secureContext = createSecureContext(tls);
    const rawSockets = new Set<Socket>();
    const server = createServer((raw) => {
      rawSockets.add(raw);
      raw.on('error', () => undefined);
      const socket = new TLSSocket(raw, { isServer: true, secureContext });
      socket.on('error', () => undefined);
      socket.once('data', (head: Buffer) => {
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
        if (head.toString('latin1').startsWith('GET /sdk')) setTimeout(() => raw.resetAndDestroy(), 50);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const proxy = await proxyTo(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const upstreamReset = await exchange(proxy.listen, 'GET /sdk HTTP/1.1\r\nhost: x\r\n\r\n');
      expect(upstreamReset.error).toBe('ECONNRESET');

      const disk = exchange(proxy.listen, 'GET /nfc/a/b HTTP/1.1\r\nhost: x\r\n\r\n');
      const other = exchange(proxy.listen, 'GET /other HTTP/1.1\r\nhost: x\r\n\r\n');
      for (let i = 0; i < 100 && proxy.stats().diskRequests === 0; i++) await sleep(20);
      await sleep(100);
      expect(proxy.resetDiskConnections()).toBe(1);
      expect((await disk).error).toBe('ECONNRESET');
      // The other connection is no disk download: untouched until its upstream closes in order.
      await sleep(100);
      for (const raw of rawSockets) raw.end();
      const rest = await other;
      expect(rest.error).toBeUndefined();
      expect(rest.bytes.toString('latin1')).toBe('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
    } finally {
      for (const raw of rawSockets) raw.destroy();
      server.close();
    }
  });
});
