import { describe, expect, it } from 'vitest';
import { choosePartSize, MAX_PARTS, MIB, MIN_PART_BYTES, UNKNOWN_SIZE_PART_BYTES } from './s3-part-size.js';

describe('choosePartSize', () => {
  it('uses the 8 MiB minimum for small disks', () => {
    expect(choosePartSize(0)).toBe(MIN_PART_BYTES);
    expect(choosePartSize(4 * 1024 * MIB)).toBe(MIN_PART_BYTES);
  });

  it('never needs more than 10,000 parts, whatever the size', () => {
    for (const size of [78 * 1024 * MIB, 100 * 1024 * MIB, 1024 ** 4, 4.9 * 1024 ** 4]) {
      const part = choosePartSize(size);
      expect(part % MIB).toBe(0);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
      // head room: a disk 10 % larger than announced still fits
      expect(Math.ceil((size * 1.1) / part)).toBeLessThanOrEqual(MAX_PARTS);
    }
  });

  it('falls back to a fixed size when the size is unknown', () => {
    expect(choosePartSize(undefined)).toBe(UNKNOWN_SIZE_PART_BYTES);
    expect(choosePartSize(Number.NaN)).toBe(UNKNOWN_SIZE_PART_BYTES);
  });
});
