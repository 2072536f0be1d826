// The fixed-VHD footer: what fixedVhdFooter writes is what qemu-img (an
// independent reader of the format, its "vpc" driver) takes for a fixed VHD of
// that size, and what fixedVhdFooterProblem accepts; each kind of damage is named.
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, MiB } from '../../src/formats/test-support.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { fixedVhdFooter, fixedVhdFooterProblem, readVhdFooter, vhdChecksum, vhdGeometry } from '../../src/core/vhd-footer.js';

const { dir, cleanup } = makeTempDir('hyper-vhd-');
afterAll(cleanup);

describe('fixedVhdFooter', () => {
  it.each([16 * MiB, 127 * MiB + 512 * 3, 3 * 2 ** 30])('%d bytes: qemu-img reads a fixed VHD of that size, and the checker accepts it', async (size) => {
    const footer = fixedVhdFooter(size);
    expect(fixedVhdFooterProblem(footer, size)).toBeUndefined();
    const path = join(dir, `disk-${size}.vhd`);
    const fh = await open(path, 'w');
    await fh.truncate(size);
    await fh.write(footer, 0, footer.length, size);
    await fh.close();
    // qemu takes the footer's current size only from creators it knows (Hyper-V's "win ", its own
    // "qem2", ...) and otherwise the CHS geometry, which rounds down: ask it for the current size.
    const info = await qemuImg('info', '--output=json', '--image-opts', `driver=vpc,force_size_calc=current_size,file.filename=${path}`);
    expect(info.code).toBe(0);
    const parsed = JSON.parse(info.stdout) as { 'virtual-size': number };
    expect(parsed['virtual-size']).toBe(size);
    await rm(path);
  });

  it('geometry follows the specification (small disks: at least 4 heads; the largest: 65535/16/255)', () => {
    // The appendix's algorithm for a small disk: 17 sectors per track, heads from the cylinder count.
    const g = vhdGeometry(20 * MiB);
    expect(g.sectorsPerTrack * g.heads * g.cylinders).toBeLessThanOrEqual((20 * MiB) / 512);
    expect(g.heads).toBeGreaterThanOrEqual(4);
    expect(vhdGeometry(200 * 2 ** 30)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  });
});

describe('fixedVhdFooterProblem', () => {
  const size = 8 * MiB;
  const spoiled = (change: (f: Buffer) => void, fixChecksum = true): Buffer => {
    const f = fixedVhdFooter(size);
    change(f);
    if (fixChecksum) f.writeUInt32BE(vhdChecksum(f), 64);
    return f;
  };
  it.each([
    ['the cookie', spoiled((f) => f.write('conectiy', 0, 'latin1')), /cookie/],
    ['the checksum', spoiled((f) => (f[100] = 1), false), /checksum/],
    ['a dynamic disk', spoiled((f) => f.writeUInt32BE(3, 60)), /dynamic/],
    ['a differencing disk', spoiled((f) => f.writeUInt32BE(4, 60)), /differencing/],
    ['the current size', spoiled((f) => f.writeBigUInt64BE(BigInt(size + 512), 48)), /current size is 8389120 bytes, the blob holds 8388608/],
    ['the length', Buffer.alloc(511), /511 bytes/],
  ] as const)('names %s', (_, footer, named) => {
    expect(fixedVhdFooterProblem(footer, size)).toMatch(named);
  });

  it('reads back what was written', () => {
    const id = Buffer.alloc(16, 7);
    const f = readVhdFooter(fixedVhdFooter(size, { uniqueId: id, timestamp: new Date(Date.UTC(2024, 0, 1)) }));
    expect(f).toMatchObject({ features: 2, formatVersion: 0x10000, dataOffset: 0xffffffffffffffffn, originalSize: size, currentSize: size, diskType: 2, creatorHostOs: 'Wi2k' });
    expect(f.uniqueId.equals(id)).toBe(true);
    expect(f.timestamp.toISOString()).toBe('2024-01-01T00:00:00.000Z');
  });
});
