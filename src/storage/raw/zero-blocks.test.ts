import { describe, expect, it } from 'vitest';
import { nonZeroRuns } from './zero-blocks.js';

describe('nonZeroRuns', () => {
  it('judges blocks aligned to the guest offset, not to the buffer, and joins adjacent non-zero blocks', () => {
    // Guest offset 4000: the first block is the 96 bytes up to 4096, then whole 4 KiB blocks.
    const data = Buffer.alloc(96 + 3 * 4096 + 50);
    data[10] = 1; // in the leading partial block
    data[96 + 4096 + 5] = 1; // second whole block
    data[96 + 2 * 4096 + 4095] = 1; // third whole block, last byte: joins the second
    expect([...nonZeroRuns(data, 4000, 4096)]).toEqual([
      [0, 96],
      [96 + 4096, 96 + 3 * 4096],
    ]);
    data[data.length - 1] = 1; // the trailing partial block, adjacent to the third: one run
    expect([...nonZeroRuns(data, 4000, 4096)].at(-1)).toEqual([96 + 4096, data.length]);
  });

  it('all zeros give nothing; no zeros give one run', () => {
    expect([...nonZeroRuns(Buffer.alloc(3 * 4096 + 1), 7, 4096)]).toEqual([]);
    expect([...nonZeroRuns(Buffer.alloc(70_000, 9), 7, 4096)]).toEqual([[0, 70_000]]);
    expect([...nonZeroRuns(Buffer.alloc(0), 0, 4096)]).toEqual([]);
  });
});
