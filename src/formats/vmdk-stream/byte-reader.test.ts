import { describe, expect, it } from 'vitest';
import { StreamByteReader } from './byte-reader.js';

function source(chunks: Buffer[], log: { returned: boolean; pulled: number }): AsyncIterable<Uint8Array> {
  let i = 0;
  const iterator: AsyncIterator<Uint8Array> = {
    next: () => {
      const chunk = chunks[i];
      i += 1;
      if (chunk === undefined) return Promise.resolve({ done: true, value: undefined });
      log.pulled += 1;
      return Promise.resolve({ done: false, value: chunk });
    },
    return: () => {
      log.returned = true;
      return Promise.resolve({ done: true, value: undefined });
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('StreamByteReader', () => {
  it('takes exact lengths across chunk boundaries, sharing memory only within one chunk', async () => {
    const first = bytes('abcdef');
    const reader = new StreamByteReader(source([first, bytes('gh'), bytes(''), bytes('ijkl')], { returned: false, pulled: 0 }));
    expect(await reader.fill(3)).toBe(6);
    const inOne = reader.take(3);
    expect(inOne.toString()).toBe('abc');
    // Zero-copy: a view of the input chunk.
    first[0] = 0x41;
    expect(inOne.toString()).toBe('Abc');
    expect(await reader.fill(7)).toBe(9);
    const across = reader.take(7);
    expect(across.toString()).toBe('defghij');
    // A copy: later changes to the input chunk do not show.
    first[3] = 0x44;
    expect(across.toString()).toBe('defghij');
    expect(reader.position).toBe(10);
    expect(reader.bytesReceived).toBe(12);
    expect(await reader.fill(5)).toBe(2);
    expect(() => reader.take(3)).toThrow(RangeError);
  });

  it('pulls only as far as a read needs (backpressure)', async () => {
    const log = { returned: false, pulled: 0 };
    const reader = new StreamByteReader(source([bytes('aaaa'), bytes('bbbb'), bytes('cccc'), bytes('dddd')], log));
    await reader.fill(5);
    expect(log.pulled).toBe(2);
    expect(await reader.skip(6)).toBe(6);
    expect(log.pulled).toBe(2);
    expect(reader.position).toBe(6);
  });

  it('skips without keeping bytes and says how far it got when the input ends', async () => {
    const reader = new StreamByteReader(source([bytes('12345'), bytes('678')], { returned: false, pulled: 0 }));
    expect(await reader.skip(3)).toBe(3);
    expect(await reader.skip(10)).toBe(5);
    expect(reader.position).toBe(8);
    expect(await reader.atEnd()).toBe(true);
  });

  it('one-byte chunks: a large read is assembled in order', async () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    const chunks = Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
    const reader = new StreamByteReader(source(chunks, { returned: false, pulled: 0 }));
    await reader.fill(1);
    reader.take(1);
    expect(await reader.fill(69_999)).toBe(69_999);
    expect(reader.take(69_999).equals(data.subarray(1))).toBe(true);
  });

  it('drainZeros finds the first non-zero byte after the current position, and stops past a limit', async () => {
    const reader = new StreamByteReader(source([Buffer.alloc(10), Buffer.from([0, 0, 9])], { returned: false, pulled: 0 }));
    expect(await reader.drainZeros(1000)).toBe(12);
    const zeros = new StreamByteReader(source([Buffer.alloc(10), Buffer.alloc(10)], { returned: false, pulled: 0 }));
    expect(await zeros.drainZeros(1000)).toBeUndefined();
    const long = new StreamByteReader(source([Buffer.alloc(10), Buffer.alloc(10), Buffer.alloc(10)], { returned: false, pulled: 0 }));
    expect(await long.drainZeros(15)).toBe(20);
  });

  it('close() lets the source release its resources, once', async () => {
    const log = { returned: false, pulled: 0 };
    const reader = new StreamByteReader(source([bytes('abc')], log));
    await reader.fill(1);
    await reader.close();
    expect(log.returned).toBe(true);
  });
});
