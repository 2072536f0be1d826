// Interim (1xx) responses before the real one. A server may send `100 Continue`
// or `103 Early Hints` (with headers) ahead of the response that carries the disk;
// the client must skip them entirely and frame the real body by its own headers.
// Taking the interim message's end for the body's end publishes a truncated disk
// with the hash of the wrong bytes.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalSink } from '../../src/storage/local-sink.js';
import { BAD_RESPONSE, type HttpResponse } from '../../src/transfer/http-get.js';
import { attempt, failureType } from './helpers/run.js';
import { chunkedPieces, closeRawServers, get, rawServer, slices, writePieces } from './helpers/raw-server.js';

afterEach(closeRawServers);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const EARLY_HINTS = 'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\nLink: </y>; rel=preload\r\n\r\n';
const INTERIMS = CONTINUE + EARLY_HINTS;

type Framing = 'chunked' | 'close-delimited' | 'content-length';
const FRAMINGS: Framing[] = ['chunked', 'close-delimited', 'content-length'];

/** The real response after `interim`, its body written in pieces 10 ms apart (separate reads). */
function respond(interim: string, framing: Framing, data: Buffer) {
  return async (s: Socket) => {
    const head =
      framing === 'chunked'
        ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
        : framing === 'close-delimited'
          ? 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'
          : `HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`;
    const piece = Math.ceil(data.length / 6);
    const body = framing === 'chunked' ? chunkedPieces(data, piece) : slices(data, piece);
    await writePieces(s, [interim, head, ...body], 10);
    s.end();
  };
}

async function readAll(res: HttpResponse): Promise<Buffer> {
  const parts: Buffer[] = [];
  await res.body.read({ data: (view) => (parts.push(Buffer.from(view)), true) });
  return Buffer.concat(parts);
}

describe('httpGet skips interim responses', () => {
  for (const framing of FRAMINGS) {
    it(`100 Continue + 103 Early Hints, then a ${framing} body in several reads: exact bytes`, async () => {
      const data = randomBytes(300_000);
      const url = await rawServer(respond(INTERIMS, framing, data));
      const res = await get(url);
      expect(res.statusCode).toBe(200);
      // The real response's headers only, none of the hints'.
      expect(res.headers.link).toBeUndefined();
      const got = await readAll(res);
      expect(got.length).toBe(data.length);
      expect(sha256(got)).toBe(sha256(data));
    });
  }

  it('interim responses and the real head in one segment, or one byte at a time: exact bytes', async () => {
    const data = randomBytes(70_000);
    for (const piece of [1, 1 << 20]) {
      const url = await rawServer(async (s) => {
        const wire = Buffer.concat([Buffer.from(`${INTERIMS}${CONTINUE}HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n`), ...chunkedPieces(data, 7000)]);
        await writePieces(s, slices(wire.subarray(0, 400), piece), 0);
        await writePieces(s, [wire.subarray(400)], 0);
        s.end();
      });
      const got = await readAll(await get(url));
      expect(sha256(got)).toBe(sha256(data));
    }
  });

  it('an interim response that claims a body (Content-Length, chunked) still has none', async () => {
    const data = randomBytes(50_000);
    for (const claim of ['Content-Length: 10', 'Transfer-Encoding: chunked']) {
      const url = await rawServer(respond(`HTTP/1.1 103 Early Hints\r\n${claim}\r\n\r\n`, 'close-delimited', data));
      const got = await readAll(await get(url));
      expect(sha256(got)).toBe(sha256(data));
    }
  });

  it('101 Switching Protocols (we never asked to upgrade) → BAD_RESPONSE', async () => {
    for (const head of [
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    ]) {
      const url = await rawServer((s) => s.end(head));
      await expect(get(url).then(readAll)).rejects.toMatchObject({ code: BAD_RESPONSE });
    }
  });
});

describe('transferDisk after interim responses', () => {
  for (const framing of FRAMINGS) {
    it(`publishes a byte-exact file from a ${framing} body behind 100 + 103`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'hyper-interim-'));
      try {
        const sink = new LocalSink(dir);
        const data = randomBytes(3 * 1024 * 1024 + 7);
        const url = await rawServer(respond(INTERIMS, framing, data));
        const a = await attempt(sink, 'disk.vmdk', url);
        expect(failureType(a.error)).toBeUndefined();
        expect(a.error).toBeUndefined();
        expect(a.result?.bytes).toBe(data.length);
        expect(a.result?.sha256).toBe(sha256(data));
        const published = readFileSync(join(dir, 'disk.vmdk'));
        expect(published.length).toBe(data.length);
        expect(sha256(published)).toBe(sha256(data));
        expect(existsSync(join(dir, '.disk.vmdk.partial'))).toBe(false);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
