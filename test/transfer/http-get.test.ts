// The engine's GET client against raw loopback servers that write exactly the
// bytes a test wants: framing edge cases, cut connections, stalls, and TLS
// delivering records while the consumer is paused.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BAD_RESPONSE, BODY_TIMEOUT, BODY_TRUNCATED, HEADERS_TIMEOUT, type HttpResponse } from '../../src/transfer/http-get.js';
import { closeRawServers, get, rawServer } from './helpers/raw-server.js';

afterEach(closeRawServers);

/** Reads the whole body, copying each view (optionally pausing after every view and resuming later). */
async function readAll(res: HttpResponse, pauseMs?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let views = 0;
  await res.body.read({
    data(view) {
      const copy = Buffer.from(view);
      views++;
      if (pauseMs === undefined) {
        parts.push(copy);
        return true;
      }
      // Paused: the view must still hold the same bytes when we come back to it.
      setTimeout(() => {
        expect(view.equals(copy)).toBe(true);
        parts.push(copy);
        res.body.resume();
      }, pauseMs);
      return false;
    },
  });
  expect(views).toBeGreaterThan(0);
  return Buffer.concat(parts);
}

async function writeSlowly(socket: Socket, data: Buffer, piece: number): Promise<void> {
  for (let at = 0; at < data.length; at += piece) {
    socket.write(data.subarray(at, at + piece));
    await new Promise((r) => setImmediate(r));
  }
}

describe('httpGet', () => {
  it('decodes a chunked body with extensions and trailers, written one byte at a time', async () => {
    const a = randomBytes(1000);
    const b = randomBytes(17);
    const wire = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Twice: 1\r\nX-Twice: 2\r\n\r\n'),
      Buffer.from(`${a.length.toString(16)};name=value\r\n`),
      a,
      Buffer.from(`\r\n${b.length.toString(16).toUpperCase()}\r\n`),
      b,
      Buffer.from('\r\n0\r\nX-Trailer: yes\r\n\r\n'),
    ]);
    const url = await rawServer((s) => writeSlowly(s, wire, 1));
    const res = await get(url);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-twice']).toBe('1, 2');
    expect((await readAll(res)).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('reads a close-delimited body (no length) to the end of the connection', async () => {
    const data = randomBytes(300_000);
    const url = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
      s.end(data);
    });
    expect((await readAll(await get(url))).equals(data)).toBe(true);
  });

  it('a sized body cut short rejects with BODY_TRUNCATED, never a short success', async () => {
    const url = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      s.end(randomBytes(40_000));
    });
    await expect(readAll(await get(url))).rejects.toMatchObject({ code: BODY_TRUNCATED });
  });

  it('a chunked body cut between chunks rejects with BODY_TRUNCATED', async () => {
    const url = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'));
    await expect(readAll(await get(url))).rejects.toMatchObject({ code: BODY_TRUNCATED });
  });

  it('malformed framing rejects with BAD_RESPONSE', async () => {
    // http-parser-js alone would read "zz" as the last chunk and "5zz" as 5.
    for (const size of ['zz', '5zz']) {
      const url = await rawServer((s) => s.end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nhello\r\n0\r\n\r\n`));
      await expect(get(url).then(readAll)).rejects.toMatchObject({ code: BAD_RESPONSE });
    }
  });

  it('no response head in time → HEADERS_TIMEOUT', async () => {
    const url = await rawServer(() => undefined);
    await expect(get(url, { headersTimeoutMs: 200 })).rejects.toMatchObject({ code: HEADERS_TIMEOUT });
  });

  it('a source that stops sending → BODY_TIMEOUT; a consumer that pauses longer than that is no stall', async () => {
    const stalled = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    await expect(readAll(await get(stalled, { bodyTimeoutMs: 300 }))).rejects.toMatchObject({ code: BODY_TIMEOUT });

    const data = randomBytes(64 * 1024);
    const steady = await rawServer((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
      s.end(data);
    });
    const res = await get(steady, { bodyTimeoutMs: 200 });
    expect((await readAll(res, 500)).equals(data)).toBe(true);
  });

  it('refuses header values that would split the request', async () => {
    const url = await rawServer((s) => s.end('HTTP/1.1 204 No Content\r\n\r\n'));
    await expect(get(url, { headers: { cookie: 'a\r\nx-injected: 1' } })).rejects.toThrow(/invalid HTTP header/);
  });

  it('an abort rejects with the signal’s reason and closes the connection', async () => {
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const url = await rawServer((s) => {
      s.on('close', () => closed());
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
    });
    const ac = new AbortController();
    const res = await get(url, { signal: ac.signal });
    const reading = res.body.read({ data: () => true });
    const reason = new Error('cancelled by the test');
    ac.abort(reason);
    await expect(reading).rejects.toBe(reason);
    await closedP;
  });

  it('over TLS, views stay intact while paused even though records keep arriving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hyper-httpget-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const url = await rawServer((s) => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
        s.end(data);
      }, tls);
      const res = await get(url, { insecure: true });
      const got = await readAll(res, 0);
      expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
