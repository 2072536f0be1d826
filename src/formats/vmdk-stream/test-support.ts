// Test support for the decoder's tests (not used by the product): raw images made
// on disk, converted by qemu-img (the independent encoder), fed to the decoder in
// chunks of random sizes, and rebuilt into raw bytes to hash and compare.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { makeTempDir as makeScratchDir, qemuImgBinary, seededRandom } from '../test-support.js';
import { decodeStreamOptimized, type VmdkStreamEndEvent, type VmdkStreamHeaderEvent } from './decoder.js';

export { KiB, MiB, seededRandom } from '../test-support.js';

export function makeTempDir(): { dir: string; cleanup: () => void } {
  return makeScratchDir('vmdkstream');
}

export function randomBytes(length: number, seed: number): Buffer {
  const next = seededRandom(seed);
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 1) out[i] = Math.floor(next() * 256);
  return out;
}

export interface Piece {
  offset: number;
  data: Buffer;
}

/** A sparse raw file of `size` bytes holding `pieces` (everything else zero). */
export function writeRaw(path: string, size: number, pieces: Piece[]): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const p of pieces) writeSync(fd, p.data, 0, p.data.length, p.offset);
  } finally {
    closeSync(fd);
  }
}

export function qemuImg(args: string[]): string {
  return execFileSync(qemuImgBinary(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function toStreamOptimized(rawPath: string, vmdkPath: string): void {
  qemuImg(['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawPath, vmdkPath]);
}

/** Yields `bytes` in chunks of 1..maxChunk bytes (sizes from a seed), copying each like a socket would. */
export async function* chunked(bytes: Buffer, seed: number, maxChunk: number): AsyncGenerator<Buffer> {
  const next = seededRandom(seed);
  let at = 0;
  while (at < bytes.length) {
    const size = 1 + Math.floor(next() * maxChunk);
    yield Buffer.from(bytes.subarray(at, at + size));
    at += size;
    await Promise.resolve();
  }
}

export interface Rebuilt {
  raw: Buffer;
  header: VmdkStreamHeaderEvent;
  end: VmdkStreamEndEvent;
  dataEvents: number;
}

/** Decodes a whole stream into a raw image, checking the event order on the way. */
export async function rebuildRaw(source: AsyncIterable<Uint8Array>): Promise<Rebuilt> {
  let header: VmdkStreamHeaderEvent | undefined;
  let end: VmdkStreamEndEvent | undefined;
  let raw = Buffer.alloc(0);
  let lastEnd = 0;
  let dataEvents = 0;
  for await (const ev of decodeStreamOptimized(source)) {
    if (end !== undefined) throw new Error('event after end');
    if (ev.kind === 'header') {
      if (header !== undefined) throw new Error('second header');
      header = ev;
      raw = Buffer.alloc(ev.capacityBytes);
    } else if (ev.kind === 'data') {
      if (header === undefined) throw new Error('data before header');
      if (ev.offset < lastEnd) throw new Error(`extent at ${ev.offset} overlaps the previous one ending at ${lastEnd}`);
      if (ev.offset + ev.data.length > raw.length) throw new Error(`extent at ${ev.offset} runs past capacity`);
      ev.data.copy(raw, ev.offset);
      lastEnd = ev.offset + ev.data.length;
      dataEvents += 1;
    } else {
      end = ev;
    }
  }
  if (header === undefined || end === undefined) throw new Error('stream ended without header or end event');
  return { raw, header, end, dataEvents };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The original raw file as a guest sees it: padded with zeros to a whole sector (qemu rounds capacity up). */
export function rawAsGuestSees(path: string): Buffer {
  const bytes = readFileSync(path);
  const padded = Buffer.alloc(Math.ceil(bytes.length / 512) * 512);
  bytes.copy(padded);
  return padded;
}

export interface EsxiLayoutOptions {
  grainSectors?: number;
  /** Write the last grain at full grain size (zeros past capacity), as ESXi may. */
  fullLastGrain?: boolean;
  /** Overrides applied to the footer's capacity (sectors), to test the footer check. */
  footerCapacitySectors?: number;
  /** Leave out the footer, directory and end-of-stream markers. */
  omitTail?: boolean;
}

/**
 * Writes `raw` as a streamOptimized VMDK in the layout ESXi streams (directory at
 * the end: header with gdOffset = GD_AT_END, grains, a grain-table marker after
 * each table's grains, the directory marker, a footer, end-of-stream), which
 * qemu-img does not produce. qemu-img reads it back in the tests, so this
 * encoder is itself checked by the independent tool.
 */
export function encodeEsxiLayout(raw: Buffer, options: EsxiLayoutOptions = {}): Buffer {
  const grainSectors = options.grainSectors ?? 128;
  const grainBytes = grainSectors * 512;
  const capacitySectors = Math.ceil(raw.length / 512);
  const gtes = 512;
  const grains = Math.ceil(raw.length / grainBytes);
  const tables = Math.ceil(grains / gtes);
  const gdSectors = Math.ceil((tables * 4) / 512);
  const overheadSectors = 128;
  const descriptor = Buffer.alloc(20 * 512);
  descriptor.write(
    '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="streamOptimized"\n\n' +
      `# Extent description\nRDONLY ${capacitySectors} SPARSE "disk.vmdk"\n\n# The Disk Data Base\n#DDB\nddb.adapterType = "lsilogic"\n`,
    'latin1',
  );
  const header = (capacity: number, gdOffset: bigint): Buffer => {
    const h = Buffer.alloc(512);
    h.writeUInt32LE(0x564d444b, 0);
    h.writeUInt32LE(3, 4);
    h.writeUInt32LE(0x30001, 8);
    h.writeBigUInt64LE(BigInt(capacity), 12);
    h.writeBigUInt64LE(BigInt(grainSectors), 20);
    h.writeBigUInt64LE(1n, 28);
    h.writeBigUInt64LE(20n, 36);
    h.writeUInt32LE(gtes, 44);
    h.writeBigUInt64LE(0n, 48);
    h.writeBigUInt64LE(gdOffset, 56);
    h.writeBigUInt64LE(BigInt(overheadSectors), 64);
    h.write('\n \r\n', 73, 'latin1');
    h.writeUInt16LE(1, 77);
    return h;
  };
  const parts: Buffer[] = [header(capacitySectors, 0xffff_ffff_ffff_ffffn), descriptor];
  let sector = 21;
  const push = (b: Buffer): void => {
    parts.push(b);
    sector += b.length / 512;
  };
  push(Buffer.alloc((overheadSectors - 21) * 512));
  const metadataMarker = (sectors: number, type: number): Buffer => {
    const m = Buffer.alloc(512);
    m.writeBigUInt64LE(BigInt(sectors), 0);
    m.writeUInt32LE(type, 12);
    return m;
  };
  const gd = Buffer.alloc(gdSectors * 512);
  const zeroGrain = Buffer.alloc(grainBytes);
  for (let t = 0; t < tables; t += 1) {
    const gt = Buffer.alloc(gtes * 4);
    let any = false;
    for (let e = 0; e < gtes; e += 1) {
      const g = t * gtes + e;
      if (g >= grains) break;
      let data = raw.subarray(g * grainBytes, (g + 1) * grainBytes);
      if (data.equals(zeroGrain.subarray(0, data.length))) continue;
      if (options.fullLastGrain === true && data.length < grainBytes) {
        data = Buffer.concat([data, Buffer.alloc(grainBytes - data.length)]);
      }
      const z = deflateSync(data);
      const marker = Buffer.alloc(Math.ceil((12 + z.length) / 512) * 512);
      marker.writeBigUInt64LE(BigInt(g * grainSectors), 0);
      marker.writeUInt32LE(z.length, 8);
      z.copy(marker, 12);
      gt.writeUInt32LE(sector, e * 4);
      push(marker);
      any = true;
    }
    if (!any) continue;
    push(metadataMarker(4, 1));
    gd.writeUInt32LE(sector, t * 4);
    push(gt);
  }
  if (options.omitTail === true) return Buffer.concat(parts);
  push(metadataMarker(gdSectors, 2));
  const gdAt = sector;
  push(gd);
  push(metadataMarker(1, 3));
  push(header(options.footerCapacitySectors ?? capacitySectors, BigInt(gdAt)));
  push(metadataMarker(0, 0));
  return Buffer.concat(parts);
}

export function writeFile(path: string, bytes: Buffer): string {
  writeFileSync(path, bytes);
  return path;
}
