// Test helpers for the qcow2 writer: sources made of data extents (with zero runs
// inside), a feeder that hands them to the writer the way a transfer would, and
// qemu-img. No vitest here: the kill -9 test's child process uses them too.

import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { KiB, makeTempDir as makeScratchDir, MiB, qemuImgBinary, seededRandom as rng } from '../test-support.js';
import type { Qcow2Writer } from './writer.js';

export { GiB, KiB, MiB, seededRandom as rng } from '../test-support.js';

/** Random bytes (a zero byte here and there, as real data has). */
export function randomBytes(length: number, next: () => number): Buffer {
  const buf = Buffer.alloc(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) buf.writeUInt32LE((next() * 2 ** 32) >>> 0, i);
  for (; i < length; i++) buf[i] = Math.floor(next() * 256);
  return buf;
}

export interface SourceExtent {
  offset: number;
  data: Buffer;
}

export interface Source {
  virtualSize: number;
  /** In increasing offset order, not overlapping; bytes outside them are zeros. */
  extents: SourceExtent[];
}

export function makeTempDir(prefix: string): { dir: string; cleanup: () => void } {
  return makeScratchDir(`qcow2-${prefix}`);
}

/** The source as a sparse raw file, for qemu-img compare. */
export async function writeRaw(source: Source, path: string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(source.virtualSize);
    for (const e of source.extents) await fh.write(e.data, 0, e.data.length, e.offset);
  } finally {
    await fh.close();
  }
}

/** Guest bytes an image must store, no more: those of the clusters holding at least one non-zero byte. */
export function expectedStoredBytes(source: Source, clusterSize: number): number {
  const clusters = new Set<number>();
  for (const e of source.extents) {
    for (let i = 0; i < e.data.length; i++) {
      if (e.data[i] !== 0) {
        const c = Math.floor((e.offset + i) / clusterSize);
        clusters.add(c);
        i = (c + 1) * clusterSize - e.offset - 1; // on to the next cluster
      }
    }
  }
  let bytes = 0;
  for (const c of clusters) bytes += Math.min(clusterSize, source.virtualSize - c * clusterSize);
  return bytes;
}

/**
 * Feeds [from, to) of the source to the writer in pieces of random, unaligned
 * sizes, as a transfer would: data extents as write() (zero bytes inside them
 * left for the writer to detect), the gaps between them sometimes declared with
 * skipZeros(), sometimes as explicit zero buffers, sometimes just skipped over.
 */
export async function feed(writer: Qcow2Writer, source: Source, from: number, to: number, next: () => number, maxPiece = 300 * KiB): Promise<void> {
  let at = from;
  const zerosUpTo = async (end: number) => {
    while (at < end) {
      const len = Math.min(end - at, Math.max(1, Math.floor(next() * 4 * maxPiece)));
      const how = next();
      if (how < 0.4) await writer.skipZeros(at, len);
      else if (how < 0.6 && len <= 4 * maxPiece) await writer.write(at, Buffer.alloc(len));
      // else: a gap, the next extent's offset says it
      at += len;
    }
  };
  for (const e of source.extents) {
    const start = Math.max(e.offset, from);
    const end = Math.min(e.offset + e.data.length, to);
    if (start >= end) continue;
    await zerosUpTo(start);
    while (at < end) {
      const len = Math.min(end - at, Math.max(1, Math.floor(next() * maxPiece)));
      await writer.write(at, e.data.subarray(at - e.offset, at - e.offset + len));
      at += len;
    }
  }
  await zerosUpTo(to);
}

export interface QemuImgResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function qemuImg(...args: string[]): Promise<QemuImgResult> {
  return new Promise((resolve) => {
    execFile(qemuImgBinary(), args, { maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Up to `extents` random extents (zero runs inside half of them) with random gaps up to `gap`. */
export function randomSource(virtualSize: number, seed: number, extents = 60, gap = 1.2 * MiB): Source {
  const next = rng(seed);
  const list: Source['extents'] = [];
  let at = Math.floor(next() * 64 * KiB);
  while (list.length < extents) {
    const length = 1 + Math.floor(next() * 400 * KiB);
    if (at + length > virtualSize) break;
    const data = randomBytes(length, next);
    if (next() < 0.5) {
      const zeroStart = Math.floor(next() * length);
      data.fill(0, zeroStart, Math.min(length, zeroStart + Math.floor(next() * 64 * KiB)));
    }
    list.push({ offset: at, data });
    at += length + Math.floor(next() * gap);
  }
  return { virtualSize, extents: list };
}
