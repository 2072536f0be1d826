// The footer of a fixed VHD (Microsoft's Virtual Hard Disk Image Format
// Specification, "Hard Disk Footer Format"): the last 512 bytes of the file, after
// the disk's bytes. Azure serves a managed disk or snapshot as a page blob in this
// shape: the disk, then this footer. Every field is big-endian.
//
//   0  cookie "conectix"         8    40 original size       8
//   8  features (2 = reserved)   4    48 current size        8
//  12  format version 0x10000    4    56 geometry C/H/S      4
//  16  data offset (fixed: ~0)   8    60 disk type (2 fixed) 4
//  24  timestamp (s since 2000)  4    64 checksum            4
//  28  creator application       4    68 unique id          16
//  32  creator version           4    84 saved state         1
//  36  creator host OS           4    85 reserved (zeros)  427
//
// The checksum is the one's complement of the sum of the footer's bytes with the
// checksum field taken as zero.
//
// Here on the ground floor because two floors use it: the Azure provider checks
// the footer of the page blob it reads, and the image writers (storage/image/)
// end a `vhd` output with one.

export const VHD_FOOTER_SIZE = 512;
export const VHD_COOKIE = 'conectix';
export const VHD_DISK_TYPE_FIXED = 2;
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

export interface VhdFooter {
  features: number;
  formatVersion: number;
  dataOffset: bigint;
  timestamp: Date;
  creatorApplication: string;
  creatorVersion: number;
  creatorHostOs: string;
  originalSize: number;
  currentSize: number;
  geometry: { cylinders: number; heads: number; sectorsPerTrack: number };
  diskType: number;
  checksum: number;
  uniqueId: Buffer;
  savedState: number;
}

/** One's complement of the byte sum of `footer`, its checksum field (64..67) counted as zero. */
export function vhdChecksum(footer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < VHD_FOOTER_SIZE; i++) if (i < 64 || i > 67) sum += footer[i]!;
  return ~sum >>> 0;
}

/** The fields of a footer, unchecked (see fixedVhdFooterProblem). */
export function readVhdFooter(footer: Buffer): VhdFooter {
  if (footer.length !== VHD_FOOTER_SIZE) throw new Error(`a VHD footer is ${VHD_FOOTER_SIZE} bytes, not ${footer.length}`);
  return {
    features: footer.readUInt32BE(8),
    formatVersion: footer.readUInt32BE(12),
    dataOffset: footer.readBigUInt64BE(16),
    timestamp: new Date(VHD_EPOCH_MS + footer.readUInt32BE(24) * 1000),
    creatorApplication: footer.toString('latin1', 28, 32),
    creatorVersion: footer.readUInt32BE(32),
    creatorHostOs: footer.toString('latin1', 36, 40),
    originalSize: Number(footer.readBigUInt64BE(40)),
    currentSize: Number(footer.readBigUInt64BE(48)),
    geometry: { cylinders: footer.readUInt16BE(56), heads: footer[58]!, sectorsPerTrack: footer[59]! },
    diskType: footer.readUInt32BE(60),
    checksum: footer.readUInt32BE(64),
    uniqueId: Buffer.from(footer.subarray(68, 84)),
    savedState: footer[84]!,
  };
}

/**
 * What makes `footer` not the footer of a fixed VHD whose disk is `diskBytes`
 * long (cookie, checksum, disk type, current size), or undefined when it is one.
 */
export function fixedVhdFooterProblem(footer: Buffer, diskBytes: number): string | undefined {
  if (footer.length !== VHD_FOOTER_SIZE) return `the footer is ${footer.length} bytes, not ${VHD_FOOTER_SIZE}`;
  const cookie = footer.toString('latin1', 0, 8);
  if (cookie !== VHD_COOKIE) return `the last ${VHD_FOOTER_SIZE} bytes do not start with the VHD cookie "${VHD_COOKIE}" (found ${JSON.stringify(cookie)})`;
  const f = readVhdFooter(footer);
  const expected = vhdChecksum(footer);
  if (f.checksum !== expected) return `the VHD footer's checksum is 0x${f.checksum.toString(16)}, its bytes sum to 0x${expected.toString(16)}`;
  if (f.diskType !== VHD_DISK_TYPE_FIXED) return `the VHD's disk type is ${f.diskType} (${f.diskType === 3 ? 'dynamic' : f.diskType === 4 ? 'differencing' : 'unknown'}), not fixed (2)`;
  if (f.currentSize !== diskBytes) return `the VHD footer's current size is ${f.currentSize} bytes, the blob holds ${diskBytes} before the footer`;
  return undefined;
}

/** CHS geometry of a disk of `size` bytes, as the specification's appendix computes it. */
export function vhdGeometry(size: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  let totalSectors = Math.floor(size / 512);
  if (totalSectors > 65535 * 16 * 255) totalSectors = 65535 * 16 * 255;
  let sectorsPerTrack: number;
  let heads: number;
  let cylinderTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024));
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack };
}

/**
 * The creator application of the VHDs this project writes. qemu's vpc driver
 * takes a VHD's size from its CHS geometry (which rounds most sizes down) unless
 * the creator is one it knows to write the exact current size: Hyper-V's "win "
 * is one, and Azure's disks are Hyper-V's format, so an output carries it and
 * reads back at exactly the disk's size.
 */
export const VHD_OUTPUT_CREATOR = 'win ';

export interface FixedVhdFooterOptions {
  timestamp?: Date;
  /** 16 bytes; default random. */
  uniqueId?: Buffer;
  /** Four characters; default "hsdk". */
  creatorApplication?: string;
}

/** The footer of a fixed VHD whose disk is `size` bytes (a multiple of 512). */
export function fixedVhdFooter(size: number, options: FixedVhdFooterOptions = {}): Buffer {
  if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) throw new Error(`a fixed VHD holds a whole number of 512-byte sectors, not ${size} bytes`);
  const footer = Buffer.alloc(VHD_FOOTER_SIZE);
  footer.write(VHD_COOKIE, 0, 'latin1');
  footer.writeUInt32BE(2, 8);
  footer.writeUInt32BE(0x00010000, 12);
  footer.writeBigUInt64BE(0xffffffffffffffffn, 16);
  const at = options.timestamp ?? new Date();
  footer.writeUInt32BE(Math.max(0, Math.floor((at.getTime() - VHD_EPOCH_MS) / 1000)), 24);
  footer.write((options.creatorApplication ?? 'hsdk').padEnd(4).slice(0, 4), 28, 'latin1');
  footer.writeUInt32BE(0x00010000, 32);
  footer.write('Wi2k', 36, 'latin1');
  footer.writeBigUInt64BE(BigInt(size), 40);
  footer.writeBigUInt64BE(BigInt(size), 48);
  const g = vhdGeometry(size);
  footer.writeUInt16BE(g.cylinders, 56);
  footer[58] = g.heads;
  footer[59] = g.sectorsPerTrack;
  footer.writeUInt32BE(VHD_DISK_TYPE_FIXED, 60);
  const id = options.uniqueId ?? Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
  if (id.length !== 16) throw new Error('a VHD unique id is 16 bytes');
  id.copy(footer, 68);
  footer.writeUInt32BE(vhdChecksum(footer), 64);
  return footer;
}
