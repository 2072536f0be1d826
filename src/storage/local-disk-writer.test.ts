import { randomBytes } from 'node:crypto';
import { constants, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentBootId, openLocalDiskWriter, resumableOffset } from './local-disk-writer.js';

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
    const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ldw-'));
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
    const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ldw-'));
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
    const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ldw-'));
    const paths = pathsIn(dir);
    writeFileSync(paths.partialPath, Buffer.alloc(10_000, 7));
    const writer = await openLocalDiskWriter(paths, { checkpoint: cp(9000, { bootId: currentBootId, durableOffset: 9000 }) });
    const direct = openFlags(paths.partialPath).some((f) => f & constants.O_DIRECT);
    expect(writer.resumeOffset).toBe(direct ? 8192 : 9000);
    await writer.close();
  });

  it('writes memory the device refuses for O_DIRECT (odd address) through the page cache instead', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ldw-'));
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
