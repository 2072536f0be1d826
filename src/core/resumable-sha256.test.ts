import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashAcrossBoundaries, loadWasmSha256, NodeSha256, WasmSha256 } from './resumable-sha256.js';

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

describe('hashAcrossBoundaries', () => {
  const data = randomBytes(10_000);
  const expected = createHash('sha256').update(data).digest('hex');

  it('stops at every multiple of the granularity, with a state that resumes from there', async () => {
    const h = await WasmSha256.create();
    const states = new Map<number, string>();
    // chunks of uneven sizes that start and end off the boundaries
    for (const [from, to] of [[0, 999], [999, 1000], [1000, 4321], [4321, 10_000]] as const) {
      hashAcrossBoundaries(h, data.subarray(from, to), from, 1000, (at) => states.set(at, h.state()));
    }
    expect([...states.keys()]).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]);
    expect(h.digestHex()).toBe(expected);
    for (const at of [1000, 4000, 9000]) {
      const resumed = await loadWasmSha256(states.get(at)!);
      resumed!.update(data.subarray(at));
      expect(resumed!.digestHex()).toBe(expected);
    }
  });

  it('with no granularity hashes the chunk whole and reports nothing', () => {
    const h = new NodeSha256();
    const seen: number[] = [];
    hashAcrossBoundaries(h, data, 0, 0, (at) => seen.push(at));
    expect(seen).toEqual([]);
    expect(h.digestHex()).toBe(expected);
  });

  it('a state that does not load gives undefined, not an error', async () => {
    expect(await loadWasmSha256(Buffer.from('not a hash state').toString('base64'))).toBeUndefined();
  });
});
