// What the download client refuses, whatever a server sends: framing it cannot
// trust (a Content-Length that is not one byte count) and input that would grow
// its memory without bound. Raw loopback servers write the exact bytes.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BAD_RESPONSE, readBuffersAllocated, type HttpResponse } from '../../src/transfer/http-get.js';
import { closeRawServers, flood, get, rawServer, selfSignedTls, sleep } from './helpers/raw-server.js';

afterEach(closeRawServers);

describe('httpGet Content-Length', () => {
  it('a Content-Length that is not one byte count → BAD_RESPONSE, never an empty body that looks complete', async () => {
    for (const fields of ['Content-Length: abc', 'Content-Length: 5, 5', 'Content-Length: -5', 'Content-Length: 5\r\nContent-Length: 6']) {
      const url = await rawServer((s) => s.end(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\nhello`));
      await expect(get(url).then((res) => res.body.read({ data: () => true }))).rejects.toMatchObject({ code: BAD_RESPONSE });
    }
  });

  it('repeated equal Content-Length fields count once', async () => {
    const url = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'));
    const res = await get(url);
    expect(res.headers['content-length']).toBe('5');
    const parts: Buffer[] = [];
    await res.body.read({ data: (v) => (parts.push(Buffer.from(v)), true) });
    expect(Buffer.concat(parts).toString()).toBe('hello');
  });
});

const MiB = 1024 * 1024;

/** A server that floods after `head`; the test reads how much it managed to write. */
async function flooding(head: string, piece: Buffer | string, totalBytes = 256 * MiB) {
  const servers: ReturnType<typeof flood>[] = [];
  const url = await rawServer((s) => servers.push(flood(s, head, Buffer.from(piece), totalBytes)));
  return { url, written: () => servers[0]?.written ?? 0 };
}

async function readAll(res: HttpResponse): Promise<Buffer> {
  const parts: Buffer[] = [];
  await res.body.read({ data: (v) => (parts.push(Buffer.from(v)), true) });
  return Buffer.concat(parts);
}

describe('httpGet bounds what a server can make it buffer', () => {
  it('an endless header line → BAD_RESPONSE after at most 64 KiB of head', async () => {
    const { url, written } = await flooding('HTTP/1.1 200 OK\r\nX-Long: ', 'a'.repeat(64 * 1024));
    await expect(get(url)).rejects.toMatchObject({ code: BAD_RESPONSE, message: expect.stringMatching(/head/) as unknown });
    expect(written()).toBeLessThan(64 * MiB);
  });

  it('endlessly many header lines, or an endless status line → BAD_RESPONSE', async () => {
    const many = await flooding('HTTP/1.1 200 OK\r\n', 'X-Field: value\r\n'.repeat(4096));
    await expect(get(many.url)).rejects.toMatchObject({ code: BAD_RESPONSE });
    const status = await flooding('HTTP/1.1 200 ', 'O'.repeat(64 * 1024));
    await expect(get(status.url)).rejects.toMatchObject({ code: BAD_RESPONSE });
    expect(many.written() + status.written()).toBeLessThan(128 * MiB);
  });

  it('endless interim responses → BAD_RESPONSE at the 11th, not a wait for the headers timeout', async () => {
    const hint = 'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n';
    const endless = await flooding('', hint.repeat(100));
    const t0 = Date.now();
    await expect(get(endless.url, { headersTimeoutMs: 30_000 })).rejects.toMatchObject({ code: BAD_RESPONSE, message: expect.stringMatching(/interim/) as unknown });
    expect(Date.now() - t0).toBeLessThan(10_000);

    const eleven = await rawServer((s) => s.end(`${hint.repeat(11)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`));
    await expect(get(eleven)).rejects.toMatchObject({ code: BAD_RESPONSE });
    const ten = await rawServer((s) => s.end(`${hint.repeat(10)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`));
    expect((await readAll(await get(ten))).toString()).toBe('ok');
  });

  it('an endless chunk extension, or chunk data without its CRLF → BAD_RESPONSE, the connection dropped', async () => {
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (const [head, piece] of [
      [`${chunked}5;name=`, 'v'.repeat(64 * 1024)],
      [`${chunked}5\r\nhello`, 'x'.repeat(64 * 1024)],
    ] as const) {
      const { url, written } = await flooding(head, piece);
      await expect(get(url).then(readAll)).rejects.toMatchObject({ code: BAD_RESPONSE, message: expect.stringMatching(/chunk/) as unknown });
      expect(written()).toBeLessThan(64 * MiB);
    }
  });

  it('an endless trailer line, or endlessly many trailers → BAD_RESPONSE, the connection dropped', async () => {
    const ended = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n';
    for (const [head, piece] of [
      [`${ended}X-Trailer: `, 't'.repeat(64 * 1024)],
      [ended, 'X-Trailer: t\r\n'.repeat(4096)],
    ] as const) {
      const { url, written } = await flooding(head, piece);
      await expect(get(url).then(readAll)).rejects.toMatchObject({ code: BAD_RESPONSE, message: expect.stringMatching(/trailer/) as unknown });
      expect(written()).toBeLessThan(64 * MiB);
    }
  });

  for (const tls of [false, true]) {
    it(`a consumer that pauses while the server floods holds at most 2 read buffers${tls ? ' (TLS)' : ''}, and gets every byte`, async () => {
      const size = 32 * MiB;
      const piece = randomBytes(MiB);
      const servers: ReturnType<typeof flood>[] = [];
      const url = await rawServer((s) => servers.push(flood(s, `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`, piece, size)), tls ? selfSignedTls() : undefined);
      const res = await get(url, { insecure: true });
      const hash = createHash('sha256');
      let received = 0;
      let views = 0;
      let longPause: Promise<void> | undefined;
      let mostBuffers = 0;
      const reading = res.body.read({
        data(view) {
          hash.update(view);
          received += view.length;
          views++;
          mostBuffers = Math.max(mostBuffers, readBuffersAllocated(res.body));
          // One long pause early on (the server keeps writing meanwhile), then a
          // pause after every third view, resumed on a later turn of the loop.
          if (views === 2) {
            longPause = sleep(500).then(() => res.body.resume());
            return false;
          }
          if (views % 3 === 0) {
            setImmediate(() => res.body.resume());
            return false;
          }
          return true;
        },
      });
      await sleep(300);
      // Paused: the client stopped reading, so the server is held back by TCP.
      expect(received).toBeLessThan(2 * MiB);
      expect(servers[0]!.written).toBeLessThan(size);
      await longPause;
      await reading;
      expect(received).toBe(size);
      const want = createHash('sha256');
      for (let i = 0; i < size / MiB; i++) want.update(piece);
      expect(hash.digest('hex')).toBe(want.digest('hex'));
      // The held buffer and at most one more: reads TLS still delivers after the
      // pause are packed behind the held bytes (before, each took a new 256 KiB
      // buffer: 5 here over TLS). 4 is the hard cap.
      expect(mostBuffers).toBeGreaterThanOrEqual(1);
      expect(mostBuffers).toBeLessThanOrEqual(2);
    });
  }
});
