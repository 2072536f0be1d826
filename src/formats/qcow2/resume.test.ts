// A transfer killed mid-way resumes from the last checkpoint it heartbeated: the
// writer is dropped without finish() (what kill -9 leaves: the file with data
// written after the checkpoint, no header), the file reopened, the writer resumed
// from the checkpoint's JSON, the source fed again from state.resumeOffset.
import { open, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Qcow2WriterError } from './errors.js';
import { qcow2Geometry } from './layout.js';
import { worstCaseStateBytes, type Qcow2WriterState } from './state.js';
import { expectValidCopy } from './test-judge.js';
import { feed, KiB, makeTempDir, MiB, qemuImg, randomBytes, randomSource, rng, writeRaw, type Source } from './test-support.js';
import { Qcow2Writer } from './writer.js';

const tmp = makeTempDir('resume');
afterAll(tmp.cleanup);
let counter = 0;
const HEARTBEAT_LIMIT = 64 * KiB;

/** What heartbeat details do to a value: JSON out, JSON in. */
const viaHeartbeat = (s: Qcow2WriterState): unknown => JSON.parse(JSON.stringify(s)) as unknown;

interface Kill {
  /** Feed up to here, then checkpoint. */
  checkpointAt: number;
  /** Feed on up to here (lost to the kill), then drop the writer. */
  killAt: number;
}

/** Writes the source with kills after the given points, resuming each time from the checkpoint; qemu-img judges the end result. */
async function writeWithKills(source: Source, kills: Kill[], options: { clusterBits?: number; compactStateBytes?: number; seed?: number; headBytes?: number } = {}) {
  const raw = join(tmp.dir, `r${counter}.raw`);
  const qcow2 = join(tmp.dir, `r${counter++}.qcow2`);
  await writeRaw(source, raw);
  const next = rng(options.seed ?? 5);
  const cs = 2 ** (options.clusterBits ?? 16);
  const states: Qcow2WriterState[] = [];
  let fh = await open(qcow2, 'w+');
  let writer = await Qcow2Writer.create(fh, { virtualSize: source.virtualSize, ...options });
  let from = 0;
  for (const kill of kills) {
    await feed(writer, source, from, kill.checkpointAt, next);
    const received = writer.receivedOffset;
    const state = await writer.checkpoint();
    expect(JSON.stringify(state).length).toBeLessThan(HEARTBEAT_LIMIT);
    // A partly received cluster is not in the file: its start is where feeding resumes.
    expect(state.resumeOffset).toBe(received === source.virtualSize ? received : Math.floor(received / cs) * cs);
    await feed(writer, source, kill.checkpointAt, kill.killAt, next);
    await fh.close(); // killed: no finish, no further checkpoint

    fh = await open(qcow2, 'r+');
    writer = await Qcow2Writer.resume(fh, viaHeartbeat(state), { compactStateBytes: options.compactStateBytes });
    expect((await fh.stat()).size).toBe(state.fileLength);
    from = state.resumeOffset;
    states.push(state);
  }
  await feed(writer, source, from, source.virtualSize, next);
  await writer.finish();
  await fh.close();
  await expectValidCopy(qcow2, raw, source.virtualSize);
  return { states, qcow2, raw };
}

describe('Qcow2Writer.resume after a kill', () => {
  it('from a checkpoint taken mid-cluster in the middle of the data, data written after it lost', async () => {
    const next = rng(51);
    const virtualSize = 40 * MiB + 3 * 512;
    const source: Source = {
      virtualSize,
      extents: [
        { offset: 0, data: randomBytes(300 * KiB + 5, next) },
        { offset: 17 * MiB + 777, data: randomBytes(3 * MiB, next) },
        { offset: virtualSize - 70_000, data: randomBytes(70_000, next) },
      ],
    };
    const { states } = await writeWithKills(source, [{ checkpointAt: 18 * MiB + 300_001, killAt: 39 * MiB }]);
    const state = states[0]!;
    expect(state.resumeOffset).toBe(Math.floor((18 * MiB + 300_001) / (64 * KiB)) * 64 * KiB);
    expect(state.closedEncoding).toBe('counts');
  });

  it('from a checkpoint before any data and one after all of it (before finish)', async () => {
    const source = randomSource(24 * MiB, 52, 20);
    await writeWithKills(source, [{ checkpointAt: 0, killAt: 12 * MiB }]);
    await writeWithKills(source, [{ checkpointAt: 24 * MiB, killAt: 24 * MiB }]);
  });

  it('killed three times across many 2 MiB regions (4 KiB clusters), per-region counts in the state', async () => {
    const source = randomSource(256 * MiB, 53, 120, 3 * MiB);
    const { states } = await writeWithKills(
      source,
      [
        { checkpointAt: 40 * MiB + 12_345, killAt: 90 * MiB },
        { checkpointAt: 100 * MiB, killAt: 101 * MiB + 7 },
        { checkpointAt: 200 * MiB + 4096 * 3, killAt: 250 * MiB },
      ],
      { clusterBits: 12, seed: 6 },
    );
    expect(states.map((s) => s.closedEncoding)).toEqual(['counts', 'counts', 'counts']);
    expect(states[2]!.closedRegions).toBeGreaterThan(90);
  });

  it('with a 5 MiB head reserved (as for S3), one bit per region in the state', async () => {
    const source = randomSource(128 * MiB, 56, 100, 1 * MiB);
    const { states } = await writeWithKills(
      source,
      [
        { checkpointAt: 30 * MiB + 5, killAt: 60 * MiB },
        { checkpointAt: 90 * MiB, killAt: 100 * MiB },
      ],
      { clusterBits: 12, compactStateBytes: 0, seed: 10, headBytes: 5 * MiB },
    );
    expect(states.map((s) => [s.closedEncoding, s.headClusters])).toEqual([
      ['presence', 1280],
      ['presence', 1280],
    ]);
  });

  it('the same with one bit per region in the state, counts re-read from the L2 tables in the file', async () => {
    const source = randomSource(256 * MiB, 53, 120, 3 * MiB);
    const g = qcow2Geometry(256 * MiB, 12);
    const { states } = await writeWithKills(
      source,
      [
        { checkpointAt: 40 * MiB + 12_345, killAt: 90 * MiB },
        { checkpointAt: 200 * MiB + 4096 * 3, killAt: 250 * MiB },
      ],
      { clusterBits: 12, compactStateBytes: 0, seed: 7 },
    );
    expect(states.map((s) => s.closedEncoding)).toEqual(['presence', 'presence']);
    for (const s of states) expect(JSON.stringify(s).length).toBeLessThanOrEqual(worstCaseStateBytes(g.l1Size, g.l2Entries));
  });
});

describe('Qcow2Writer.resume after finish', () => {
  it('killed after finish() wrote the header but before it was recorded: resumes from the last checkpoint, the stale header is cleared', async () => {
    const source = randomSource(24 * MiB, 55, 30, 512 * KiB);
    const raw = join(tmp.dir, 'after-finish.raw');
    const qcow2 = join(tmp.dir, 'after-finish.qcow2');
    await writeRaw(source, raw);
    const next = rng(9);
    let fh = await open(qcow2, 'w+');
    const writer = await Qcow2Writer.create(fh, { virtualSize: source.virtualSize });
    await feed(writer, source, 0, 10 * MiB, next);
    const state = viaHeartbeat(await writer.checkpoint());
    await feed(writer, source, 10 * MiB, source.virtualSize, next);
    await writer.finish();
    await fh.close();

    fh = await open(qcow2, 'r+');
    const resumed = await Qcow2Writer.resume(fh, state);
    // Until the next finish() the file is not taken for an image (it would be a corrupt one).
    expect(JSON.parse((await qemuImg('info', '--output=json', qcow2)).stdout)).toMatchObject({ format: 'raw' });
    await feed(resumed, source, (state as Qcow2WriterState).resumeOffset, source.virtualSize, next);
    await resumed.finish();
    await fh.close();
    await expectValidCopy(qcow2, raw, source.virtualSize);
  });
});

describe('Qcow2Writer.resume refuses what it cannot trust', () => {
  async function killedImage(compactStateBytes = 0) {
    const path = join(tmp.dir, `bad${counter++}.qcow2`);
    const source = randomSource(64 * MiB, 54, 40, 1 * MiB);
    const fh = await open(path, 'w+');
    const writer = await Qcow2Writer.create(fh, { virtualSize: source.virtualSize, clusterBits: 12, compactStateBytes });
    await feed(writer, source, 0, 40 * MiB, rng(8));
    const state = await writer.checkpoint();
    await fh.close();
    return { path, state };
  }
  const code = async (path: string, state: unknown) => {
    const fh = await open(path, 'r+');
    try {
      const err = await Qcow2Writer.resume(fh, state).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Qcow2WriterError);
      return (err as Qcow2WriterError).code;
    } finally {
      await fh.close();
    }
  };

  it('a file shorter than the checkpoint says was durable', async () => {
    const { path, state } = await killedImage();
    await truncate(path, state.fileLength - 4096);
    expect(await code(path, state)).toBe('file-too-short');
  });

  it('a state whose counts do not add up to the file length, or from something else', async () => {
    const { path, state } = await killedImage(48 * KiB);
    expect(state.closedEncoding).toBe('counts');
    const sizeBefore = (await stat(path)).size;
    expect(await code(path, { ...state, open: '' })).toBe('bad-state');
    expect(await code(path, { ...state, fileLength: state.fileLength - 4096 })).toBe('bad-state');
    expect(await code(path, { ...state, format: 'other' })).toBe('bad-state');
    expect(await code(path, { ...state, resumeOffset: state.resumeOffset + 1 })).toBe('bad-state');
    expect(await code(path, 'not a state')).toBe('bad-state');
    // A refused resume leaves the file as it found it.
    expect((await stat(path)).size).toBe(sizeBefore);
  });

  it('an L2 table in the file that does not map the clusters before it (one bit per region in the state)', async () => {
    const { path, state } = await killedImage();
    expect(state.closedEncoding).toBe('presence');
    const fh = await open(path, 'r+');
    // The cluster just before the open region's data is the last closed region's L2 table.
    const openCount = Buffer.from(state.open, 'base64').reduce((n, byte) => n + popcount8(byte), 0);
    const l2At = state.fileLength - (openCount + 1) * 4096;
    await fh.write(Buffer.alloc(8), 0, 8, l2At + (await firstMappedEntry(fh, l2At)));
    await fh.close();
    expect(await code(path, state)).toBe('file-corrupt');
  });
});

describe('checkpoint size whatever the disk size', () => {
  it('stays far under 64 KiB on a 62 TiB disk (the largest vSphere disk) with data scattered over many regions', async () => {
    const TiB = 1024 * 1024 * MiB;
    const virtualSize = 62 * TiB;
    const g = qcow2Geometry(virtualSize, 16);
    expect(worstCaseStateBytes(g.l1Size, g.l2Entries)).toBeLessThan(HEARTBEAT_LIMIT);
    const path = join(tmp.dir, 'huge.qcow2');
    const fh = await open(path, 'w+');
    const writer = await Qcow2Writer.create(fh, { virtualSize });
    const next = rng(61);
    // 40 regions spread over the disk, 1-3 clusters each, different counts side by side.
    for (let i = 0; i < 40; i++) {
      const region = Math.floor(((i + next()) * g.l1Size) / 40);
      await writer.write(region * g.regionBytes + 12_345, randomBytes(Math.floor(next() * 3 * 64 * KiB) + 1, next));
    }
    const state = await writer.checkpoint();
    expect(JSON.stringify(state).length).toBeLessThan(2 * KiB);
    await fh.close();
    // Resumed in the one-bit-per-region form (124k regions: 21 KiB of base64), what a disk whose
    // thousands of regions each hold a different count would get.
    const fh2 = await open(path, 'r+');
    const resumed = await Qcow2Writer.resume(fh2, viaHeartbeat(state), { compactStateBytes: 0 });
    await resumed.write(61 * TiB, randomBytes(100_000, next));
    const presence = await resumed.checkpoint();
    expect(presence.closedEncoding).toBe('presence');
    expect(JSON.stringify(presence).length).toBeGreaterThan(20 * KiB);
    expect(JSON.stringify(presence).length).toBeLessThan(HEARTBEAT_LIMIT);
    await resumed.finish();
    await fh2.close();
    const check = await qemuImg('check', path);
    expect(check.stdout).toContain('No errors were found');
    expect(check.code).toBe(0);
    const info = JSON.parse((await qemuImg('info', '--output=json', path)).stdout) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(virtualSize);
    expect((await stat(path)).size).toBeLessThan(16 * MiB);
  });
});

function popcount8(byte: number): number {
  let n = 0;
  for (let b = byte; b; b &= b - 1) n++;
  return n;
}

async function firstMappedEntry(fh: Awaited<ReturnType<typeof open>>, tableAt: number): Promise<number> {
  const table = Buffer.alloc(4096);
  await fh.read(table, 0, 4096, tableAt);
  for (let at = 0; at < 4096; at += 8) if (table.readBigUInt64BE(at) !== 0n) return at;
  throw new Error('no mapped entry in the L2 table');
}
