// The fixed-VHD footer's fields as the specification lays them out, read back
// byte by byte (not through readVhdFooter), and its checksum recomputed here from
// its definition. qemu-img's view of the footer is in the integration tests
// (test/azure/vhd-footer.test.ts, test/transfer/extent-transfer.test.ts).
import { describe, expect, it } from 'vitest';
import { fixedVhdFooter, fixedVhdFooterProblem, readVhdFooter, VHD_FOOTER_SIZE, VHD_OUTPUT_CREATOR, vhdChecksum, vhdGeometry } from './vhd-footer.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The specification's checksum: one's complement of the sum of every byte but the checksum field's own. */
function checksumByDefinition(footer: Buffer): number {
  let sum = 0;
  footer.forEach((byte, i) => {
    if (i < 64 || i >= 68) sum += byte;
  });
  return ~sum >>> 0;
}

describe('fixedVhdFooter', () => {
  const size = 20 * MiB;
  const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const at = new Date(Date.UTC(2025, 5, 1, 12, 0, 0));
  const footer = fixedVhdFooter(size, { uniqueId: id, timestamp: at, creatorApplication: VHD_OUTPUT_CREATOR });

  it('lays out every field big-endian where the specification puts it', () => {
    expect(footer.length).toBe(VHD_FOOTER_SIZE);
    expect(footer.toString('latin1', 0, 8)).toBe('conectix');
    expect(footer.readUInt32BE(8)).toBe(2); // features: reserved bit
    expect(footer.readUInt32BE(12)).toBe(0x00010000); // format version 1.0
    expect(footer.readBigUInt64BE(16)).toBe(0xffffffffffffffffn); // data offset: none (fixed)
    expect(footer.readUInt32BE(24)).toBe((at.getTime() - Date.UTC(2000, 0, 1)) / 1000); // seconds since 2000-01-01 UTC
    expect(footer.toString('latin1', 28, 32)).toBe('win ');
    expect(footer.toString('latin1', 36, 40)).toBe('Wi2k');
    expect(footer.readBigUInt64BE(40)).toBe(BigInt(size)); // original size
    expect(footer.readBigUInt64BE(48)).toBe(BigInt(size)); // current size
    // 20 MiB = 40960 sectors: 17 sectors per track, 2409 cylinder-heads, so 4 heads (the minimum) and 602 cylinders.
    expect([footer.readUInt16BE(56), footer[58], footer[59]]).toEqual([602, 4, 17]);
    expect(footer.readUInt32BE(60)).toBe(2); // fixed
    expect(footer.subarray(68, 84).equals(id)).toBe(true);
    expect(footer[84]).toBe(0); // saved state
    expect(footer.subarray(85).every((b) => b === 0)).toBe(true);
  });

  it('carries the checksum of its bytes, and any changed byte breaks it', () => {
    expect(footer.readUInt32BE(64)).toBe(checksumByDefinition(footer));
    expect(vhdChecksum(footer)).toBe(checksumByDefinition(footer));
    expect(fixedVhdFooterProblem(footer, size)).toBeUndefined();
    const changed = Buffer.from(footer);
    changed[30] = changed[30]! ^ 1;
    expect(fixedVhdFooterProblem(changed, size)).toMatch(/checksum/);
  });

  it('gives every footer its own unique id unless one is given', () => {
    const a = readVhdFooter(fixedVhdFooter(size));
    const b = readVhdFooter(fixedVhdFooter(size));
    expect(a.uniqueId.equals(b.uniqueId)).toBe(false);
    expect(a.uniqueId.equals(Buffer.alloc(16))).toBe(false);
  });

  it('refuses a size that is not a whole number of 512-byte sectors, or none', () => {
    for (const bad of [0, -512, 511, 20 * MiB + 1, 1.5 * 512]) expect(() => fixedVhdFooter(bad)).toThrow(/512-byte sectors/);
  });

  it('computes the geometry by the specification, up to its largest', () => {
    // Each step of the appendix: 17, 31 and 63 sectors per track, then 255 past 65535*16*63 sectors.
    expect(vhdGeometry(20 * MiB)).toEqual({ cylinders: 602, heads: 4, sectorsPerTrack: 17 });
    expect(vhdGeometry(1 * GiB)).toEqual({ cylinders: 2080, heads: 16, sectorsPerTrack: 63 });
    expect(vhdGeometry(127 * GiB)).toEqual({ cylinders: 65278, heads: 16, sectorsPerTrack: 255 });
    expect(vhdGeometry(128 * GiB)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
    expect(vhdGeometry(4 * 1024 * GiB)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
    const small = vhdGeometry(200 * MiB);
    expect(small.cylinders * small.heads * small.sectorsPerTrack).toBeLessThanOrEqual((200 * MiB) / 512);
  });
});
