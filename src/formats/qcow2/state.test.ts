import { describe, expect, it } from 'vitest';
import { Qcow2WriterError } from './errors.js';
import { qcow2Geometry } from './layout.js';
import { rng } from './test-support.js';
import { decodeBitmap, decodeRegionCounts, encodeBitmap, encodeRegionCounts, MAX_STATE_BYTES, worstCaseStateBytes } from './state.js';

const TiB = 2 ** 40;

describe('checkpoint state encoding', () => {
  it('per-region counts survive the round trip, runs cost a few bytes', () => {
    const next = rng(91);
    const counts = new Uint32Array(5000);
    for (let k = 0; k < counts.length; k++) counts[k] = next() < 0.3 ? 8192 : next() < 0.5 ? 0 : Math.floor(next() * 8193);
    const decoded = new Uint32Array(5000);
    decodeRegionCounts(encodeRegionCounts(counts, 5000), 5000, 8192, decoded);
    expect([...decoded]).toEqual([...counts]);
    // 4096 full regions (a fully allocated 2 TiB disk) are one run.
    expect(encodeRegionCounts(new Uint32Array(4096).fill(8192), 4096).length).toBeLessThanOrEqual(8);
  });

  it('refuses counts that do not fit the regions', () => {
    const into = new Uint32Array(10);
    const err = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return e instanceof Qcow2WriterError ? e.code : 'other';
      }
      return 'none';
    };
    expect(err(() => decodeRegionCounts(encodeRegionCounts([1, 2, 3], 3), 10, 8192, into))).toBe('bad-state');
    expect(err(() => decodeRegionCounts(encodeRegionCounts([9000], 1), 1, 8192, into))).toBe('bad-state');
    expect(err(() => decodeRegionCounts(Buffer.from([0x80]).toString('base64'), 1, 8192, into))).toBe('bad-state');
    expect(err(() => decodeBitmap('AAAA', 8, 'open'))).toBe('bad-state');
  });

  it('one bit per region: a 62 TiB disk at 64 KiB clusters fits, 2 TiB at 4 KiB clusters would not', () => {
    const big = qcow2Geometry(62 * TiB, 16);
    const bits = new Uint8Array(Math.ceil(big.l1Size / 8)).fill(0xff);
    expect(encodeBitmap(bits, big.l1Size).length).toBeLessThan(22 * 1024);
    expect(worstCaseStateBytes(big.l1Size, big.l2Entries)).toBeLessThan(MAX_STATE_BYTES);
    const small = qcow2Geometry(2 * TiB, 12);
    expect(worstCaseStateBytes(small.l1Size, small.l2Entries)).toBeGreaterThan(MAX_STATE_BYTES);
  });
});
