// A size known before the GET (TransferRequest.expectedBytes) holds the download
// to it: a source that announces or serves another size fails with non-retryable
// SizeMismatch, its partial is removed and nothing is published, whatever the
// framing. Raw loopback servers put exactly the announced and the served sizes on
// the wire.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSink } from '../../src/storage/local-sink.js';
import type { TransferCheckpoint } from '../../src/transfer/types.js';
import { attempt, failureType, isRetryable } from './helpers/run.js';
import { chunkedPieces, closeRawServers, rawServer, sleep, slices, writePieces } from './helpers/raw-server.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Framing = 'chunked' | 'close-delimited' | 'content-length';

/** A 200 whose head announces `announced` (content-length framing) and whose body is `body`. */
function serve(framing: Framing, body: Buffer, announced = body.length) {
  return async (s: Socket) => {
    const head =
      framing === 'chunked'
        ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
        : framing === 'close-delimited'
          ? 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'
          : `HTTP/1.1 200 OK\r\nContent-Length: ${announced}\r\n\r\n`;
    const piece = 256 * 1024;
    await writePieces(s, [head, ...(framing === 'chunked' ? chunkedPieces(body, piece) : slices(body, piece))], 1);
    s.end();
  };
}

describe('transferDisk with a size known in advance', () => {
  let dir: string;
  let sink: LocalSink;
  const partial = () => join(dir, '.disk.vmdk.partial');
  const final = () => join(dir, 'disk.vmdk');

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hyper-size-'));
    sink = new LocalSink(dir);
  });
  afterEach(async () => {
    closeRawServers();
    await rm(dir, { recursive: true, force: true });
  });

  /** SizeMismatch, final, naming both sizes and the URL without its query; no partial, nothing published. */
  async function expectMismatch(error: unknown, url: string, sizes: [number, number]): Promise<void> {
    expect(failureType(error)).toBe('SizeMismatch');
    expect(isRetryable(error)).toBe(false);
    const message = (error as Error).message;
    expect(message).toContain(String(sizes[0]));
    expect(message).toContain(String(sizes[1]));
    expect(message).toContain(url.split('?')[0]);
    expect(message).not.toContain('secret');
    expect(existsSync(partial())).toBe(false);
    expect(existsSync(final())).toBe(false);
    expect(await sink.listComplete()).toEqual([]);
  }

  for (const framing of ['chunked', 'close-delimited', 'content-length'] as const) {
    it(`publishes a ${framing} body of exactly the expected size`, async () => {
      const data = randomBytes(2 * 1024 * 1024 + 3);
      const url = await rawServer(serve(framing, data));
      const a = await attempt(sink, 'disk.vmdk', url, { expectedBytes: data.length });
      expect(a.error).toBeUndefined();
      expect(a.result?.sha256).toBe(sha256(data));
      expect(sha256(readFileSync(final()))).toBe(sha256(data));
    });
  }

  it('a 200 whose Content-Length differs from the expected size → SizeMismatch before any byte is written', async () => {
    const expected = 2 * 1024 * 1024;
    for (const announced of [expected - 1, expected + 4096]) {
      const url = `${await rawServer(serve('content-length', randomBytes(announced)))}?token=secret`;
      const a = await attempt(sink, 'disk.vmdk', url, { expectedBytes: expected });
      await expectMismatch(a.error, url, [expected, announced]);
      expect(a.checkpoints).toEqual([]);
    }
  });

  for (const framing of ['chunked', 'close-delimited'] as const) {
    it(`a ${framing} body (no length) that ends short of the expected size → SizeMismatch, partial removed`, async () => {
      const expected = 3 * 1024 * 1024;
      const served = expected - 100_000;
      const url = `${await rawServer(serve(framing, randomBytes(served)))}?token=secret`;
      const a = await attempt(sink, 'disk.vmdk', url, { expectedBytes: expected });
      await expectMismatch(a.error, url, [expected, served]);
    });

    it(`a ${framing} body (no length) that runs past the expected size → SizeMismatch, partial removed`, async () => {
      const expected = 3 * 1024 * 1024;
      const url = `${await rawServer(serve(framing, randomBytes(expected + 1)))}?token=secret`;
      const a = await attempt(sink, 'disk.vmdk', url, { expectedBytes: expected });
      await expectMismatch(a.error, url, [expected, expected + 1]);
    });
  }

  it('a source flooding past the expected size is cut off as soon as it passes it', async () => {
    const expected = 1024 * 1024;
    const total = 256 * 1024 * 1024;
    let written = 0;
    const url = await rawServer(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
      const piece = randomBytes(1024 * 1024);
      while (written < total && !s.destroyed && s.writable) {
        written += piece.length;
        if (!s.write(piece)) await new Promise((r) => s.once('drain', r).once('close', r));
      }
      s.end();
    });
    const a = await attempt(sink, 'disk.vmdk', url, { expectedBytes: expected });
    expect(failureType(a.error)).toBe('SizeMismatch');
    await sleep(50);
    expect(written).toBeLessThan(total / 4);
    expect(existsSync(partial())).toBe(false);
    expect(existsSync(final())).toBe(false);
  });

  /** A partial holding the first `offset` bytes of `data`, and the checkpoint that resumes it. */
  async function resumable(data: Buffer, offset: number): Promise<TransferCheckpoint> {
    const writer = await sink.openDiskWriter('disk.vmdk', {});
    await writer.write(data.subarray(0, offset));
    await writer.flush();
    await writer.close();
    return {
      version: 1,
      offset,
      sink: { kind: 'local' },
      hash: { algorithm: 'sha256', kind: 'reread-prefix' },
      source: { sizeBytes: data.length },
    };
  }

  it('a 206 whose Content-Range total differs from the expected size → SizeMismatch, the resumable partial removed', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const offset = 1024 * 1024;
    const cp = await resumable(data, offset);
    expect(existsSync(partial())).toBe(true);
    const expected = data.length + 512;
    let range: string | undefined;
    const url = `${await rawServer((s, head) => {
      range = /\r\nrange: ([^\r]*)/i.exec(head)?.[1];
      s.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${offset}-${data.length - 1}/${data.length}\r\nContent-Length: ${data.length - offset}\r\n\r\n`);
      s.end(data.subarray(offset));
    })}?token=secret`;
    const a = await attempt(sink, 'disk.vmdk', url, { checkpoint: cp, expectedBytes: expected });
    expect(range).toBe(`bytes=${offset}-`);
    await expectMismatch(a.error, url, [expected, data.length]);
  });

  it('a 416 saying the file ends at our offset, when another size was expected → SizeMismatch', async () => {
    const data = randomBytes(1024 * 1024);
    const cp = await resumable(data, data.length);
    const expected = data.length * 2;
    const url = `${await rawServer((s) => s.end(`HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */${data.length}\r\nContent-Length: 0\r\n\r\n`))}?token=secret`;
    const a = await attempt(sink, 'disk.vmdk', url, { checkpoint: cp, expectedBytes: expected });
    await expectMismatch(a.error, url, [expected, data.length]);
  });

  it('a resumed 206 of the expected size completes the file', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const offset = 1024 * 1024 + 17;
    const cp = await resumable(data, offset);
    const url = await rawServer((s, head) => {
      // The writer may resume below the checkpoint (its own alignment): serve what is asked.
      const from = Number(/\r\nrange: bytes=(\d+)-/i.exec(head)?.[1]);
      s.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${from}-${data.length - 1}/${data.length}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      void writePieces(s, chunkedPieces(data.subarray(from), 100_000), 1).then(() => s.end());
    });
    const a = await attempt(sink, 'disk.vmdk', url, { checkpoint: cp, expectedBytes: data.length });
    expect(a.error).toBeUndefined();
    expect(a.result?.resumedFromOffset).toBeGreaterThan(0);
    expect(a.result?.resumedFromOffset).toBeLessThanOrEqual(offset);
    expect(sha256(readFileSync(final()))).toBe(sha256(data));
  });

  it('the expected Content-Length with the connection cut short is a retryable TransferFailed that keeps the partial', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const url = await rawServer(async (s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
      await writePieces(s, slices(data.subarray(0, 3 * 1024 * 1024), 256 * 1024), 1);
      s.destroy();
    });
    const a = await attempt(sink, 'disk.vmdk', url, { expectedBytes: data.length });
    expect(failureType(a.error)).toBe('TransferFailed');
    expect(isRetryable(a.error)).toBe(true);
    expect(existsSync(partial())).toBe(true);
    expect(existsSync(final())).toBe(false);
  });
});
