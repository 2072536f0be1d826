// A writer slower than the network that does not release chunks (a stream
// decoded on the fly) must pause the download, not have the engine pile the
// stream up in memory. Regression: every batch was new memory and nothing bounded
// them, so a 2 GiB lease stream decoded into qcow2 peaked at 2.2 GB of RSS.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskWriter, FinishedFile, WriterCommit } from '../../src/storage/sink.js';
import { transferDisk } from '../../src/transfer/transfer-disk.js';

const MiB = 1024 * 1024;
const SIZE = 96 * MiB;
let server: Server;
let url: string;
/** Body bytes the server has handed to its socket (what the network has taken). */
let sent = 0;

beforeAll(async () => {
  const slice = Buffer.alloc(256 * 1024, 7);
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(SIZE) });
    sent = 0;
    const pump = () => {
      while (sent < SIZE) {
        sent += slice.length;
        if (!res.write(slice)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Takes a MiB every 10 ms (~100 MB/s) and keeps no chunk: it never releases them either. */
class SlowWriter implements DiskWriter {
  readonly name = 'slow';
  readonly prefixHashing = 'reread' as const;
  readonly commitGranularity = 1;
  readonly resumeOffset = 0;
  readonly hashesOutput = true;
  received = 0;
  /** How far the server was ahead of this writer, at most. */
  maxAhead = 0;
  async write(chunk: Buffer): Promise<void> {
    await new Promise((r) => setTimeout(r, 10));
    this.received += chunk.length;
    this.maxAhead = Math.max(this.maxAhead, sent - this.received);
  }
  commit(): Promise<WriterCommit> {
    return Promise.resolve({ offset: this.received, state: { kind: 'local' } });
  }
  flush = () => Promise.resolve();
  reset = () => Promise.resolve();
  finish(): Promise<FinishedFile> {
    return Promise.resolve({ name: this.name, uri: 'mem:slow', sizeBytes: this.received, sha256: '0'.repeat(64) });
  }
  close = () => Promise.resolve();
  abort = () => Promise.resolve();
}

describe('a writer slower than the network', () => {
  it('pauses the download: the server is never more than the batches and socket buffers ahead', async () => {
    const writer = new SlowWriter();
    const result = await transferDisk({ source: { url, headers: {} }, writer, signal: new AbortController().signal, onCheckpoint: () => undefined });
    expect(result.bytes).toBe(SIZE);
    expect(writer.received).toBe(SIZE);
    console.log(`backpressure: the server ran at most ${(writer.maxAhead / MiB).toFixed(1)} MiB ahead of a writer that takes ~100 MB/s`);
    // 4 batches of 1 MiB, the client's read buffers and loopback socket buffers: well under 32 MiB, not the stream.
    expect(writer.maxAhead).toBeLessThan(32 * MiB);
  });
});
