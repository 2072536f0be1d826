import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CopiedSha256 } from './copied-sha256.js';

describe('CopiedSha256', () => {
  it('hashes the caller\'s bytes in order across its buffers, and the caller may reuse them at once', async () => {
    const data = randomBytes(27 * 1024 * 1024 + 5); // more than its three 8 MiB buffers
    const h = new CopiedSha256();
    const reused = Buffer.alloc(3 * 1024 * 1024 + 1);
    for (let at = 0; at < data.length; at += reused.length) {
      const n = data.copy(reused, 0, at);
      await h.update(reused.subarray(0, n));
      reused.fill(0xee); // what the caller does with its memory next must not reach the hash
    }
    expect(await h.digestHex()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('refuses to go on once closed', async () => {
    const h = new CopiedSha256();
    await h.update(Buffer.from('abc'));
    h.close();
    await expect(h.update(Buffer.from('def'))).rejects.toThrow(/closed/);
    await expect(h.digestHex()).rejects.toThrow(/closed/);
  });
});
