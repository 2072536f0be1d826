import { createHash, randomBytes } from 'node:crypto';
import { constants, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAllZero } from './batched-file-writer.js';
import { currentBootId, openLocalDiskWriter, resumableOffset } from './local-disk-writer.js';
import type { DiskWriter } from './sink.js';

const cp = (offset: number, sink: { bootId?: string; durableOffset?: number }) => ({ offset, sink: { kind: 'local' as const, ...sink } });

describe('resumableOffset', () => {
  it('continues from the written offset on the same boot (a killed worker keeps the page cache)', () => {
    expect(resumableOffset(cp(900, { bootId: currentBootId, durableOffset: 300 }))).toEqual({ offset: 900, durable: 300 });
  });
  it('falls back to the fdatasynced offset after a reboot or on another machine', () => {
    expect(resumableOffset(cp(900, { bootId: 'another-boot', durableOffset: 300 }))).toEqual({ offset: 300, durable: 300 });
  });
  it('trusts checkpoints that carry no boot id (every commit synced)', () => {
    expect(resumableOffset(cp(900, {}))).toEqual({ offset: 900, durable: 900 });
    expect(resumableOffset(undefined)).toEqual({ offset: 0, durable: 0 });
  });
});

const dirs: string[] = [];
/** A temporary directory, removed after the file's tests. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ldw-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function pathsIn(dir: string) {
  return { name: 'd.vmdk', finalPath: join(dir, 'd.vmdk'), partialPath: join(dir, '.d.vmdk.partial'), parentDir: dir };
}

/** Open flags (octal, /proc/self/fdinfo) of this process's descriptors on `path`. */
function openFlags(path: string): number[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== path) return [];
      const m = /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      return m ? [parseInt(m[1]!, 8)] : [];
    } catch {
      return [];
    }
  });
}

const onLinux = process.platform === 'linux';

describe('openLocalDiskWriter', () => {
  it('cuts a partial from another boot back to its durable offset', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    writeFileSync(paths.partialPath, Buffer.alloc(20_000, 7));
    const writer = await openLocalDiskWriter(paths, { checkpoint: cp(16_384, { bootId: 'another-boot', durableOffset: 8192 }) });
    expect(writer.resumeOffset).toBe(8192);
    expect(statSync(paths.partialPath).size).toBe(8192);
    // A forced commit (flush) makes everything durable and says so.
    await writer.write(Buffer.alloc(100, 1));
    await writer.flush();
    const commit = await writer.commit();
    expect(commit.offset).toBe(8292);
    expect(commit.state).toEqual(currentBootId ? { kind: 'local', bootId: currentBootId, durableOffset: 8292 } : { kind: 'local' });
    await writer.close();
  });

  it.runIf(onLinux)('writes aligned batches with O_DIRECT and the tail through the page cache, byte-exact', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    const writer = await openLocalDiskWriter(paths, {});
    const direct = openFlags(paths.partialPath).filter((f) => f & constants.O_DIRECT);
    if (direct.length === 0) return; // this file system has no direct I/O (the fallback is tested below)
    const [a, b] = await writer.allocateBuffers!(2, 64 * 1024);
    expect(statSync(paths.partialPath).size).toBe(0); // the alignment probe left nothing behind
    const data = randomBytes(2 * 64 * 1024 + 1000);
    data.copy(a!, 0, 0);
    data.copy(b!, 0, 64 * 1024);
    const released: string[] = [];
    await writer.write(a!, () => released.push('a'));
    await writer.write(b!, () => released.push('b'));
    await writer.write(data.subarray(2 * 64 * 1024), () => released.push('tail'));
    await writer.flush();
    expect(released).toEqual(['a', 'b', 'tail']);
    const file = await writer.finish();
    expect(file.sizeBytes).toBe(data.length);
    expect(readFileSync(paths.finalPath).equals(data)).toBe(true);
  });

  it.runIf(onLinux)('rounds a resume point down to 4 KiB when writing directly, so later batches stay aligned', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    writeFileSync(paths.partialPath, Buffer.alloc(10_000, 7));
    const writer = await openLocalDiskWriter(paths, { checkpoint: cp(9000, { bootId: currentBootId, durableOffset: 9000 }) });
    const direct = openFlags(paths.partialPath).some((f) => f & constants.O_DIRECT);
    expect(writer.resumeOffset).toBe(direct ? 8192 : 9000);
    await writer.close();
  });

  it('writes memory the device refuses for O_DIRECT (odd address) through the page cache instead', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    const writer = await openLocalDiskWriter(paths, {});
    const odd = Buffer.allocUnsafeSlow(8192 + 1).subarray(1); // an odd address is never block-aligned
    randomBytes(8192).copy(odd);
    const want = Buffer.from(odd);
    await writer.write(odd);
    await writer.flush();
    await writer.finish();
    expect(readFileSync(paths.finalPath).equals(want)).toBe(true);
  });
});

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `mib` MiB: random where `data` says so, zeros elsewhere (plus `tail` more zero bytes). */
function pattern(mib: number, data: (i: number) => boolean, tail = 0): Buffer {
  const out = Buffer.alloc(mib * MiB + tail);
  for (let i = 0; i < mib; i++) if (data(i)) randomBytes(MiB).copy(out, i * MiB);
  return out;
}

/**
 * Writes `bytes` from `from` in 1 MiB chunks through the writer's own buffers
 * (aligned for O_DIRECT where the file system has it), reusing one only after
 * the writer released it, as the transfer engine does.
 */
async function stream(writer: DiskWriter, bytes: Buffer, from = 0): Promise<void> {
  const free = await writer.allocateBuffers!(2, MiB);
  for (let at = from; at < bytes.length; at += MiB) {
    const n = Math.min(MiB, bytes.length - at);
    // Bounded: the writer releases a buffer once its batch is written (at most two batches are held).
    for (let spins = 0; free.length === 0; spins++) {
      if (spins > 10_000) throw new Error('the writer never released a buffer');
      await new Promise((r) => setTimeout(r, 1));
    }
    const buf = free.pop()!;
    bytes.copy(buf, 0, at, at + n);
    await writer.write(n === buf.length ? buf : buf.subarray(0, n), () => free.push(buf));
  }
}

/** Bytes the file system allocated for `path` (holes take none). */
const allocated = (path: string) => statSync(path).blocks * 512;

describe('sparse local writes', () => {
  it('leaves all-zero MiBs at the start, middle and end as holes, byte-exact at full size', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    // 64 MiB: zeros 0-15, data 16-23, zeros 24-39, data 40-47, zeros 48-63, then 1000 more zero bytes (a buffered tail).
    const want = pattern(64, (i) => (i >= 16 && i < 24) || (i >= 40 && i < 48), 1000);
    const writer = await openLocalDiskWriter(paths, {});
    await stream(writer, want);
    await writer.flush();
    const file = await writer.finish();
    expect(file.sizeBytes).toBe(want.length);
    const got = readFileSync(paths.finalPath);
    expect(got.length).toBe(want.length);
    expect(sha256(got)).toBe(sha256(want));
    // 16 MiB of data; the holes (48 MiB and the zero tail) take nothing (a few blocks of slack for metadata).
    expect(allocated(paths.finalPath)).toBeGreaterThanOrEqual(16 * MiB);
    expect(allocated(paths.finalPath)).toBeLessThan(17 * MiB);
  });

  it('a commit inside a trailing zero run makes the file cover the reported offset, and a resume continues there', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    // data 0-3, zeros 4-19 (the commit falls here), data 20-23, zeros 24-31.
    const want = pattern(32, (i) => i < 4 || (i >= 20 && i < 24));
    const first = await openLocalDiskWriter(paths, {});
    await stream(first, want.subarray(0, 12 * MiB));
    const cpt = await first.commit(); // what the heartbeat would carry
    await first.close(); // the worker dies here
    expect(cpt.offset).toBeGreaterThanOrEqual(11 * MiB); // all but at most the batch in flight
    expect(statSync(paths.partialPath).size).toBeGreaterThanOrEqual(cpt.offset); // the hole counts as written
    expect(allocated(paths.partialPath)).toBeLessThan(5 * MiB);

    const second = await openLocalDiskWriter(paths, { checkpoint: { offset: cpt.offset, sink: cpt.state } });
    expect(second.resumeOffset).toBe(cpt.offset); // resumed across the hole, not from zero
    const prefix: Buffer[] = [];
    for await (const chunk of second.readPrefix!()) prefix.push(chunk);
    expect(sha256(Buffer.concat(prefix))).toBe(sha256(want.subarray(0, cpt.offset)));
    await stream(second, want, cpt.offset);
    await second.finish();
    expect(sha256(readFileSync(paths.finalPath))).toBe(sha256(want));
    expect(allocated(paths.finalPath)).toBeLessThan(9 * MiB);
  });

  it('after reset(), zeros over bytes of the abandoned attempt come out as zeros', async () => {
    const dir = tempDir();
    const paths = pathsIn(dir);
    const writer = await openLocalDiskWriter(paths, {});
    await stream(writer, pattern(4, () => true));
    await writer.flush();
    await writer.reset();
    const want = pattern(4, (i) => i === 2);
    await stream(writer, want);
    await writer.finish();
    expect(sha256(readFileSync(paths.finalPath))).toBe(sha256(want));
  });

  it('detects zeros exactly: one non-zero byte anywhere in a MiB is data', () => {
    expect(isAllZero(Buffer.alloc(3 * MiB + 5))).toBe(true);
    for (const at of [0, 1, MiB - 1, MiB, 2 * MiB + 7, 3 * MiB + 4]) {
      const b = Buffer.alloc(3 * MiB + 5);
      b[at] = 1;
      expect(isAllZero(b)).toBe(false);
    }
    expect(isAllZero(Buffer.alloc(0))).toBe(true);
  });
});
