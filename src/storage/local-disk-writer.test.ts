import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
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

describe('openLocalDiskWriter', () => {
  it('cuts a partial from another boot back to its durable offset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ldw-'));
    const paths = { name: 'd.vmdk', finalPath: join(dir, 'd.vmdk'), partialPath: join(dir, '.d.vmdk.partial'), parentDir: dir };
    writeFileSync(paths.partialPath, Buffer.alloc(1000, 7));
    const writer = await openLocalDiskWriter(paths, { checkpoint: cp(900, { bootId: 'another-boot', durableOffset: 300 }) });
    expect(writer.resumeOffset).toBe(300);
    expect(statSync(paths.partialPath).size).toBe(300);
    // A forced commit (flush) makes everything durable and says so.
    await writer.write(Buffer.alloc(100, 1));
    await writer.flush();
    const commit = await writer.commit();
    expect(commit.offset).toBe(400);
    expect(commit.state).toEqual(currentBootId ? { kind: 'local', bootId: currentBootId, durableOffset: 400 } : { kind: 'local' });
    await writer.close();
  });
});
