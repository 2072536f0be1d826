import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WorkerSha256 } from './hash-worker.js';

function owned(bytes: Buffer): Buffer {
  const b = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(b);
  return b;
}

describe('WorkerSha256', () => {
  it('hashes transferred batches in order, hands the memory back, and interleaves streams', async () => {
    const data = randomBytes(3 * 65536 + 17);
    const a = new WorkerSha256();
    const b = new WorkerSha256();
    let slot: Buffer = Buffer.allocUnsafeSlow(65536);
    for (let at = 0; at < data.length; at += 65536) {
      const n = data.copy(slot, 0, at, at + 65536);
      const sent = slot;
      const [back] = await Promise.all([a.update(slot, n), b.update(owned(data.subarray(at, at + n)), n)]);
      expect(sent.length).toBe(0); // transferred away while hashed
      expect(back.length).toBe(65536);
      slot = back;
    }
    const want = createHash('sha256').update(data).digest('hex');
    expect(await a.digestHex()).toBe(want);
    expect(await b.digestHex()).toBe(want);
  });

  it('hashes a window of memory it owns (an aligned batch) and hands back the same window', async () => {
    const h = new WorkerSha256();
    const raw = Buffer.allocUnsafeSlow(4096 + 64);
    const window = raw.subarray(48, 48 + 4096);
    window.fill(7);
    const back = await h.update(window, 100);
    expect([back.byteOffset, back.length]).toEqual([48, 4096]);
    expect(back[0]).toBe(7);
    expect(await h.digestHex()).toBe(createHash('sha256').update(Buffer.alloc(100, 7)).digest('hex'));
  });

  it('refuses a small slice of a larger buffer (transferring it would take its neighbours away)', async () => {
    const h = new WorkerSha256();
    await expect(h.update(Buffer.from('a pooled string').subarray(2), 8)).rejects.toThrow(/owns its memory/);
    await expect(h.update(Buffer.alloc(16).subarray(4), 8)).resolves.toHaveLength(12);
    h.close();
    h.close();
  });
});
