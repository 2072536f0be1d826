import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeSha256, WasmSha256 } from './resumable-sha256.js';

describe('resumable SHA-256', () => {
  const data = randomBytes(3 * 1024 * 1024 + 11);
  const expected = createHash('sha256').update(data).digest('hex');

  it('hash-wasm state saved mid-file and loaded in a new hasher gives the whole-file hash', async () => {
    const first = await WasmSha256.create();
    const cut = 1_234_567;
    first.update(data.subarray(0, cut));
    const cp = first.checkpoint();
    if (cp.kind !== 'hash-wasm-state') throw new Error('expected a saved state');
    // through JSON, as in a Temporal heartbeat
    const state = (JSON.parse(JSON.stringify(cp)) as { state: string }).state;
    const second = await WasmSha256.create(state);
    second.update(data.subarray(cut));
    expect(second.digestHex()).toBe(expected);
  });

  it('node hasher fed prefix then rest equals the one-shot hash', () => {
    const h = new NodeSha256();
    h.update(data.subarray(0, 10));
    h.update(data.subarray(10));
    expect(h.digestHex()).toBe(expected);
    expect(new NodeSha256().checkpoint().kind).toBe('reread-prefix');
  });
});
