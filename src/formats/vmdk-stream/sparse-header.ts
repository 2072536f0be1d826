// The 512-byte sparse extent header that opens every hosted sparse VMDK (VMware
// "Virtual Disk Format 5.0", "Hosted Sparse Extent Header"), parsed and checked
// for what a streamOptimized stream needs. All fields are little-endian:
//
//   0 magic 'KDMV'      4 version          8 flags            12 capacity (sectors)
//  20 grainSize (sect.) 28 descriptorOffset 36 descriptorSize  44 numGTEsPerGT
//  48 rgdOffset        56 gdOffset         64 overHead        72 uncleanShutdown
//  73 '\n' 74 ' ' 75 '\r' 76 '\n' (newline detection)         77 compressAlgorithm (u16)
//
// Pure: no I/O. The same layout is used by the footer, which repeats the header
// with gdOffset filled in.

import { VmdkStreamError } from './errors.js';

export const SECTOR = 512;
/** 'KDMV' read as a little-endian u32. */
const SPARSE_MAGIC = 0x564d444b;
/** gdOffset value meaning "the grain directory comes at the end; see the footer". */
export const GD_AT_END = 0xffff_ffff_ffff_ffffn;

const FLAG_NEWLINE_TEST = 1 << 0;
const FLAG_COMPRESSED_GRAINS = 1 << 16;
const FLAG_MARKERS = 1 << 17;
const COMPRESSION_DEFLATE = 1;

/** VMware writes 64 KiB grains; the cap bounds the decoder's memory (one grain in, one out). */
export const MAX_GRAIN_BYTES = 2 * 1024 * 1024;
/** A descriptor is a few hundred bytes of text; ESXi and qemu reserve 10 KiB. */
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;

export interface SparseExtentHeader {
  version: number;
  flags: number;
  capacityBytes: number;
  grainBytes: number;
  descriptorOffsetBytes: number;
  descriptorSizeBytes: number;
  numGTEsPerGT: number;
  /** undefined when the header says GD_AT_END (the footer has it). */
  gdOffsetSectors: number | undefined;
  /** Where the first marker starts. */
  overheadBytes: number;
  compressAlgorithm: number;
}

/** Reads a u64 that must fit a JS number once multiplied by 512 (byte offsets up to 8 PiB). */
function sectorsField(buf: Buffer, at: number, field: string, inputOffset: number): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / SECTOR))) {
    throw new VmdkStreamError('bad-header', inputOffset + at, `${field} ${value} sectors is out of range`);
  }
  return Number(value);
}

/** Whether these bytes look like a text VMDK descriptor (what a descriptor-only "disk" holds). */
export function looksLikeTextDescriptor(start: Buffer): boolean {
  const text = start.subarray(0, 64).toString('latin1');
  return /^\s*#\s*Disk\s*Descriptor/i.test(text) || /^\s*(version|CID|createType)\s*=/im.test(text);
}

/** Checks the magic only: distinguishes "text descriptor" from "something else" for a clear error. */
export function checkMagic(start: Buffer, inputOffset: number): void {
  if (start.length >= 4 && start.readUInt32LE(0) === SPARSE_MAGIC) return;
  if (looksLikeTextDescriptor(start)) {
    throw new VmdkStreamError(
      'descriptor-only',
      inputOffset,
      'this is a text VMDK descriptor with no disk data (a descriptor-only VMDK), not a streamOptimized disk image',
    );
  }
  const shown = start.subarray(0, 4).toString('hex') || '(empty)';
  throw new VmdkStreamError('bad-magic', inputOffset, `magic is 0x${shown}, expected 'KDMV' (0x4b444d56): not a sparse VMDK`);
}

/** Parses a header (or footer) sector; `inputOffset` is where it started in the stream, for errors. */
export function parseSparseExtentHeader(buf: Buffer, inputOffset: number): SparseExtentHeader {
  if (buf.length < SECTOR) throw new RangeError(`a sparse extent header is ${SECTOR} bytes, got ${buf.length}`);
  checkMagic(buf, inputOffset);
  const version = buf.readUInt32LE(4);
  const flags = buf.readUInt32LE(8);
  const gdRaw = buf.readBigUInt64LE(56);
  return {
    version,
    flags,
    capacityBytes: sectorsField(buf, 12, 'capacity', inputOffset) * SECTOR,
    grainBytes: sectorsField(buf, 20, 'grainSize', inputOffset) * SECTOR,
    descriptorOffsetBytes: sectorsField(buf, 28, 'descriptorOffset', inputOffset) * SECTOR,
    descriptorSizeBytes: sectorsField(buf, 36, 'descriptorSize', inputOffset) * SECTOR,
    numGTEsPerGT: buf.readUInt32LE(44),
    gdOffsetSectors: gdRaw === GD_AT_END ? undefined : sectorsField(buf, 56, 'gdOffset', inputOffset),
    overheadBytes: sectorsField(buf, 64, 'overHead', inputOffset) * SECTOR,
    compressAlgorithm: buf.readUInt16LE(77),
  };
}

/** Byte size of the grain directory plus all grain tables: the most metadata a disk of this size can have. */
export function tableBytesBound(header: SparseExtentHeader): number {
  const grains = Math.ceil(header.capacityBytes / header.grainBytes);
  const tables = Math.ceil(grains / header.numGTEsPerGT);
  const gtBytes = roundUp(header.numGTEsPerGT * 4, SECTOR);
  const gdBytes = roundUp(tables * 4, SECTOR);
  return gdBytes + tables * gtBytes;
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/**
 * Checks that a parsed header describes a streamOptimized extent this decoder can
 * read from a stream: compressed grains with markers, deflate, a sane grain size,
 * and a descriptor and overhead that the stream reaches in order.
 */
export function checkStreamOptimizedHeader(header: SparseExtentHeader, buf: Buffer, inputOffset: number): void {
  const bad = (field: string, why: string): never => {
    throw new VmdkStreamError('bad-header', inputOffset, `${field} ${why}`);
  };
  if (header.version < 1 || header.version > 3) bad('version', `${header.version} is not 1, 2 or 3`);
  if ((header.flags & FLAG_COMPRESSED_GRAINS) === 0 || (header.flags & FLAG_MARKERS) === 0) {
    throw new VmdkStreamError(
      'not-stream-optimized',
      inputOffset,
      `flags 0x${header.flags.toString(16)} lack compressed grains (bit 16) and/or markers (bit 17): ` +
        'a sparse VMDK that is not streamOptimized cannot be read as a stream',
    );
  }
  if ((header.flags & FLAG_NEWLINE_TEST) !== 0 && buf.toString('latin1', 73, 77) !== '\n \r\n') {
    bad('newline detection bytes', 'are altered (was the file transferred in text mode?)');
  }
  if (header.compressAlgorithm !== COMPRESSION_DEFLATE) bad('compressAlgorithm', `${header.compressAlgorithm} is not 1 (deflate)`);
  const g = header.grainBytes;
  if (g < 8 * SECTOR || g > MAX_GRAIN_BYTES || (g & (g - 1)) !== 0) {
    bad('grainSize', `${g / SECTOR} sectors is not a power of two between 8 and ${MAX_GRAIN_BYTES / SECTOR}`);
  }
  if (header.numGTEsPerGT < 1 || header.numGTEsPerGT > 65536) bad('numGTEsPerGT', `${header.numGTEsPerGT} is out of range`);
  if (header.descriptorSizeBytes === 0 || header.descriptorOffsetBytes < SECTOR) {
    throw new VmdkStreamError('bad-descriptor', inputOffset, 'header names no embedded descriptor');
  }
  if (header.descriptorSizeBytes > MAX_DESCRIPTOR_BYTES) {
    throw new VmdkStreamError('bad-descriptor', inputOffset, `descriptorSize ${header.descriptorSizeBytes} bytes is over ${MAX_DESCRIPTOR_BYTES}`);
  }
  const descriptorEnd = header.descriptorOffsetBytes + header.descriptorSizeBytes;
  if (header.overheadBytes < descriptorEnd) bad('overHead', `${header.overheadBytes / SECTOR} sectors ends before the descriptor does`);
  // Between the descriptor and the first marker there may be a redundant and a
  // primary directory with their tables (qemu puts them there); anything more
  // would be a long skip of nothing.
  const overheadBound = descriptorEnd + 2 * tableBytesBound(header) + 1024 * 1024;
  if (header.overheadBytes > overheadBound) bad('overHead', `${header.overheadBytes / SECTOR} sectors is larger than any table layout needs`);
}

/** The createType a descriptor names, or undefined. */
export function descriptorCreateType(descriptor: string): string | undefined {
  const match = /^\s*createType\s*=\s*"?([^"\r\n]*)"?\s*$/im.exec(descriptor);
  return match?.[1]?.trim();
}
