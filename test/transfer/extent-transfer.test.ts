// The extent engine (transfer/extent-transfer.ts) with its HTTP source: a disk
// served by a loopback HTTP server that honours byte ranges and counts every byte
// it sends. With an allocation map only the mapped bytes are ever fetched; without
// one the whole disk comes in parallel pieces. qemu-img judges every image
// against the raw disk; the server's own counters judge what was fetched.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy, expectVhdCopy } from '../../src/formats/qcow2/test-judge.js';
import { openImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import { transferExtents, type Extent } from '../../src/transfer/extent-transfer.js';
import { HttpExtentSource } from '../../src/transfer/http-extent-source.js';
import type { TransferCheckpoint, TransferResult } from '../../src/transfer/types.js';
import { patternedDisk } from './helpers/patterned-disk.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const DISK = 48 * MiB;

/** What a source's allocation map says of that disk: the data, in whole 64 KiB blocks. */
const MAP: Extent[] = [
  { offset: 0, length: 2 * MiB + 64 * KiB },
  { offset: DISK / 2, length: 3 * MiB + 64 * KiB },
  { offset: DISK - MiB - 64 * KiB, length: MiB + 64 * KiB },
];
const mappedBytes = MAP.reduce((sum, e) => sum + e.length, 0);

interface RangeServer {
  url: string;
  /** Body bytes sent, and each request's [first, last] byte. */
  sent: number;
  requests: [number, number][];
  maxConcurrent: number;
  /** Answer a ranged GET with the whole file (200), as a server without Range support does. */
  ignoreRange: boolean;
  /** Cut the connection of the n-th request (1-based) after 100 KiB. */
  dropRequest?: number;
  /** Delay before each response, to keep reads in flight together. */
  delayMs: number;
  close(): Promise<void>;
}

async function startRangeServer(data: Buffer): Promise<RangeServer> {
  let active = 0;
  let arrived = 0;
  const state: RangeServer = { url: '', sent: 0, requests: [], maxConcurrent: 0, ignoreRange: false, delayMs: 0, close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    active++;
    state.maxConcurrent = Math.max(state.maxConcurrent, active);
    res.on('close', () => active--);
    const n = ++arrived;
    const respond = (): void => {
      res.setHeader('etag', '"disk-1"');
      if (!m || state.ignoreRange) {
        state.requests.push([0, data.length - 1]);
        res.writeHead(200, { 'content-length': String(data.length) });
        state.sent += data.length;
        res.end(data);
        return;
      }
      const first = Number(m[1]);
      const last = Math.min(Number(m[2]), data.length - 1);
      state.requests.push([first, last]);
      res.writeHead(206, { 'content-range': `bytes ${first}-${last}/${data.length}`, 'content-length': String(last - first + 1) });
      if (state.dropRequest === n) {
        state.sent += 100 * KiB;
        res.write(data.subarray(first, first + 100 * KiB), () => res.socket?.destroy());
        return;
      }
      state.sent += last - first + 1;
      res.end(data.subarray(first, last + 1));
    };
    if (state.delayMs > 0) setTimeout(respond, state.delayMs);
    else respond();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

let dir: string;
let rawPath: string;
const disk = patternedDisk(DISK);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hyper-extents-'));
  rawPath = join(dir, 'source.raw');
  await writeFile(rawPath, disk);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  result?: TransferResult;
  error?: unknown;
  last?: TransferCheckpoint;
}

async function exportImage(
  server: RangeServer,
  outDir: string,
  format: 'raw' | 'qcow2' | 'vhd',
  options: { allocation?: Extent[]; checkpoint?: TransferCheckpoint; signal?: AbortSignal; onCheckpoint?: (cp: TransferCheckpoint) => void; maxReadBytes?: number } = {},
): Promise<Run> {
  const sink = new LocalSink(outDir);
  const name = `disk.${format}`;
  const writer = await openImageDiskWriter(sink, {
    name,
    format,
    virtualSize: DISK,
    source: 'raw',
    stage: false,
    ...(options.checkpoint ? { checkpoint: { offset: options.checkpoint.offset, sink: options.checkpoint.sink } } : {}),
  });
  const source = new HttpExtentSource({
    source: { url: server.url, headers: {} },
    sizeBytes: DISK,
    maxReadBytes: options.maxReadBytes ?? 512 * KiB,
    ...(options.allocation ? { allocation: options.allocation } : {}),
  });
  const out: Run = {};
  try {
    out.result = await transferExtents({
      source,
      writer,
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
      signal: options.signal ?? new AbortController().signal,
      checkpointEveryMs: 50,
      onCheckpoint: (cp) => {
        out.last = JSON.parse(JSON.stringify(cp)) as TransferCheckpoint; // as a heartbeat carries it
        options.onCheckpoint?.(out.last);
      },
    });
  } catch (err) {
    out.error = err;
  }
  await sink.close();
  return out;
}

async function expectIdentical(path: string, format: 'raw' | 'qcow2' | 'vhd'): Promise<void> {
  if (format === 'qcow2') await expectValidCopy(path, rawPath, DISK);
  else if (format === 'vhd') await expectVhdCopy(path, rawPath, DISK);
  else expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', path, rawPath)).stdout).toContain('Images are identical');
}

const outside = (requests: [number, number][]) =>
  requests.filter(([first, last]) => !MAP.some((e) => first >= e.offset && last < e.offset + e.length));

describe('transferExtents over HTTP ranges', () => {
  it.each(['qcow2', 'raw', 'vhd'] as const)('%s: with an allocation map only the mapped bytes are fetched, several at a time, and the image is the disk', async (format) => {
    const server = await startRangeServer(disk);
    server.delayMs = 5;
    try {
      const out = join(dir, `mapped-${format}`);
      const { result, error } = await exportImage(server, out, format, { allocation: MAP });
      expect(error).toBeUndefined();
      await expectIdentical(join(out, `disk.${format}`), format);
      expect(server.sent).toBe(mappedBytes);
      expect(result!.bytesReceived).toBe(mappedBytes);
      expect(outside(server.requests)).toEqual([]);
      expect(server.maxConcurrent).toBeGreaterThan(1);
      expect(server.maxConcurrent).toBeLessThanOrEqual(4);
    } finally {
      await server.close();
    }
  });

  it('without a map the whole disk comes in parallel pieces, and a piece whose connection drops is read again', async () => {
    const server = await startRangeServer(disk);
    server.delayMs = 5;
    server.dropRequest = 3;
    try {
      const out = join(dir, 'whole');
      const { result, error } = await exportImage(server, out, 'qcow2', { maxReadBytes: 4 * MiB });
      expect(error).toBeUndefined();
      await expectIdentical(join(out, 'disk.qcow2'), 'qcow2');
      expect(server.requests.length).toBe(DISK / (4 * MiB) + 1); // one piece twice
      const third = server.requests[2]!;
      expect(server.requests.filter(([first]) => first === third[0])).toHaveLength(2);
      expect(result!.bytesReceived).toBe(DISK);
      expect(server.maxConcurrent).toBe(4);
    } finally {
      await server.close();
    }
  });

  it.each(['qcow2', 'raw', 'vhd'] as const)('%s: a transfer stopped mid-way resumes from its checkpoint and fetches only what followed it', async (format) => {
    const server = await startRangeServer(disk);
    server.delayMs = 40;
    try {
      const out = join(dir, `resume-${format}`);
      const stop = new AbortController();
      const first = await exportImage(server, out, format, {
        signal: stop.signal,
        maxReadBytes: MiB,
        onCheckpoint: (cp) => {
          if (cp.offset >= 8 * MiB) stop.abort(new Error('stopped as a killed worker would be'));
        },
      });
      expect(first.error).toBeInstanceOf(Error);
      expect((first.error as Error).message).toContain('killed worker');
      const resumeAt = first.last!.offset;
      expect(resumeAt).toBeGreaterThanOrEqual(8 * MiB);
      expect(readdirSync(out)).not.toContain(`disk.${format}`); // nothing published

      await new Promise((resolve) => setTimeout(resolve, 200)); // the stopped attempt's last answers leave the server
      const sentBefore = server.sent;
      const second = await exportImage(server, out, format, { checkpoint: first.last!, maxReadBytes: MiB });
      expect(second.error).toBeUndefined();
      expect(second.result!.resumedFromOffset).toBe(resumeAt);
      expect(server.sent - sentBefore).toBe(DISK - resumeAt);
      expect(second.result!.bytesReceived).toBe(DISK - resumeAt);
      await expectIdentical(join(out, `disk.${format}`), format);
    } finally {
      await server.close();
    }
  });

  it('a server that answers a ranged GET with the whole file is refused for good, and nothing is published', async () => {
    const server = await startRangeServer(disk);
    server.ignoreRange = true;
    try {
      const out = join(dir, 'no-range');
      const { error } = await exportImage(server, out, 'qcow2');
      expect(error).toBeInstanceOf(ApplicationFailure);
      expect((error as ApplicationFailure).type).toBe('SourceRefused');
      expect((error as ApplicationFailure).nonRetryable).toBe(true);
      expect((error as ApplicationFailure).message).toContain('ignores Range');
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
