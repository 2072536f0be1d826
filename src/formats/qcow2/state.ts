// The qcow2 writer's checkpoint: small plain JSON that a transfer can put in its
// heartbeat details (which must stay under 64 KiB whatever the disk size).
//
// What must survive a kill is where every data cluster went. Host order equals
// guest order (see layout.ts), so that is fully described by
//   - for each closed region, how many data clusters it holds (its L2 table is
//     already in the file, right after them), and
//   - a bitmap of the open region's allocated clusters (l2Entries bits: 1 KiB at
//     64 KiB clusters).
// The per-region counts are run-length coded ('counts'); real disks give long
// runs (empty regions, full regions), but a disk where every region holds a
// different count costs ~4 base64 characters per region (512 MiB), which stays
// under the default 48 KiB up to ~6 TiB of such a disk. Past that the state
// keeps only one bit per region ('presence': 15.5 KiB, 21 KiB as base64, for a
// 62 TiB disk at 64 KiB clusters) and resume re-derives the counts by reading
// the L2 tables back from the file, walking backwards from the last one (see
// recover.ts). Why not a sidecar file: the image already holds exactly that
// information, durable under the same fdatasync, with nothing else to keep in
// step, rename or clean up. Reading it back needs a readable output, though: an
// S3 multipart upload's parts cannot be read before completion, so an upload
// must keep the 'counts' form (compactStateBytes up to MAX_STATE_BYTES) or put
// the counts in a small side object of its own.

import { Qcow2WriterError } from './errors.js';

export const QCOW2_STATE_FORMAT = 'hypersdk.qcow2-writer/1';
/** The counts form is used while its JSON is at most this long (default). */
export const DEFAULT_COMPACT_STATE_BYTES = 48 * 1024;
/**
 * No state is ever longer (JSON characters): create() refuses a geometry whose
 * one-bit-per-region form could pass it. Heartbeat details must stay under
 * 64 KiB, with room for the caller's own fields.
 */
export const MAX_STATE_BYTES = 56 * 1024;

export interface Qcow2WriterState {
  format: typeof QCOW2_STATE_FORMAT;
  virtualSize: number;
  clusterBits: number;
  /** Guest offset to feed from after resume: cluster-aligned (or the virtual size); everything before it is durable in the file. */
  resumeOffset: number;
  /** Clusters reserved at the start (the header's, and unused ones after it). */
  headClusters: number;
  /** Bytes of the file that are durable; resume truncates the file to this length. */
  fileLength: number;
  /** Regions [0, closedRegions) are complete: their data and L2 table (if any) are in the file. */
  closedRegions: number;
  closedEncoding: 'counts' | 'presence';
  /** Base64. 'counts': LEB128 varint pairs (data clusters, regions in a row); 'presence': one bit per closed region, set if it holds data. */
  closed: string;
  /** Base64 bitmap of the open region's (index closedRegions) allocated clusters, trailing zero bytes trimmed. */
  open: string;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function readVarint(buf: Buffer, at: { i: number }): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buf[at.i++];
    if (byte === undefined || scale > 2 ** 49) throw new Qcow2WriterError('bad-state', 'checkpoint state: truncated or oversized number in "closed"');
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
  }
}

export function encodeRegionCounts(counts: ArrayLike<number>, regions: number): string {
  const out: number[] = [];
  for (let k = 0; k < regions; ) {
    const value = counts[k] ?? 0;
    let run = 1;
    while (k + run < regions && counts[k + run] === value) run++;
    pushVarint(out, value);
    pushVarint(out, run);
    k += run;
  }
  return Buffer.from(out).toString('base64');
}

export function decodeRegionCounts(encoded: string, regions: number, maxCount: number, into: Uint32Array): void {
  const buf = Buffer.from(encoded, 'base64');
  const at = { i: 0 };
  let k = 0;
  while (at.i < buf.length) {
    const value = readVarint(buf, at);
    const run = readVarint(buf, at);
    if (value > maxCount || run === 0 || k + run > regions) {
      throw new Qcow2WriterError('bad-state', `checkpoint state: region counts do not fit ${regions} closed regions of at most ${maxCount} clusters`);
    }
    into.fill(value, k, k + run);
    k += run;
  }
  if (k !== regions) throw new Qcow2WriterError('bad-state', `checkpoint state: region counts cover ${k} regions, closedRegions says ${regions}`);
}

export function encodeBitmap(bits: Uint8Array, bitCount: number): string {
  let end = Math.ceil(bitCount / 8);
  while (end > 0 && bits[end - 1] === 0) end--;
  return Buffer.from(bits.buffer, bits.byteOffset, end).toString('base64');
}

export function decodeBitmap(encoded: string, bitCount: number, field: string): Uint8Array {
  const bytes = Buffer.from(encoded, 'base64');
  const size = Math.ceil(bitCount / 8);
  if (bytes.length > size) throw new Qcow2WriterError('bad-state', `checkpoint state: "${field}" has ${bytes.length} bytes, at most ${size} expected`);
  const bits = new Uint8Array(size);
  bits.set(bytes);
  return bits;
}

export function presenceBitmap(counts: ArrayLike<number>, regions: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil(regions / 8));
  for (let k = 0; k < regions; k++) if ((counts[k] ?? 0) > 0) bits[k >> 3]! |= 1 << (k & 7);
  return bits;
}

export const bitIsSet = (bits: Uint8Array, i: number): boolean => ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;

export function popcount(bits: Uint8Array): number {
  let n = 0;
  for (const byte of bits) {
    let b = byte;
    while (b) {
      b &= b - 1;
      n++;
    }
  }
  return n;
}

/** The largest a state can get for this geometry (presence encoding, every bit set), as JSON characters. */
export function worstCaseStateBytes(l1Size: number, l2Entries: number): number {
  const base64 = (bytes: number) => Math.ceil(bytes / 3) * 4;
  const fixedFields = 400; // field names and numbers, generously
  return fixedFields + base64(Math.ceil(l1Size / 8)) + base64(l2Entries / 8);
}

/** Checks the shape of a state that came back from outside (heartbeat details are untyped JSON). */
export function assertStateShape(value: unknown): asserts value is Qcow2WriterState {
  const s = value as Partial<Record<keyof Qcow2WriterState, unknown>> | null;
  const problem =
    typeof s !== 'object' || s === null
      ? 'not an object'
      : s.format !== QCOW2_STATE_FORMAT
        ? `format is ${JSON.stringify(s.format)}, expected ${QCOW2_STATE_FORMAT}`
        : !(['virtualSize', 'clusterBits', 'headClusters', 'resumeOffset', 'fileLength', 'closedRegions'] as const).every(
              (f) => Number.isSafeInteger(s[f]) && (s[f] as number) >= 0,
            )
          ? 'a size or offset field is not a non-negative integer'
          : s.closedEncoding !== 'counts' && s.closedEncoding !== 'presence'
            ? `closedEncoding is ${JSON.stringify(s.closedEncoding)}`
            : typeof s.closed !== 'string' || typeof s.open !== 'string'
              ? '"closed" or "open" is not a string'
              : undefined;
  if (problem) throw new Qcow2WriterError('bad-state', `checkpoint state: ${problem}`);
}
