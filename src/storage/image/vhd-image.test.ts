// The vhd image format through the image writer into a local directory: the
// disk's bytes (zeros left as holes), then one fixed-VHD footer; the SHA-256 the
// writer reports is the whole file's, footer included; a resumed writer leaves
// exactly one footer, at the end, even when a killed attempt had written one.
// qemu-img judges these images in test/transfer/extent-transfer.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixedVhdFooterProblem, readVhdFooter, VHD_FOOTER_SIZE } from '../../core/vhd-footer.js';
import { LocalSink } from '../local-sink.js';
import type { WriterResumePoint } from '../sink.js';
import { openImageDiskWriter } from './image-disk-writer.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const DISK = 8 * MiB;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hx-vhd-'));
  dirs.push(d);
  return d;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Data at the start, in the middle and at the very end; zeros between. */
const EXTENTS = [
  { offset: 0, data: randomBytes(256 * KiB) },
  { offset: 3 * MiB, data: randomBytes(512 * KiB) },
  { offset: DISK - 64 * KiB, data: randomBytes(64 * KiB) },
];
const disk = Buffer.alloc(DISK);
for (const e of EXTENTS) e.data.copy(disk, e.offset);

/** Sinks hold their directory open until closed: each test's are closed after it. */
const sinks: LocalSink[] = [];
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});

function writerIn(dir: string, checkpoint?: WriterResumePoint, virtualSize = DISK) {
  const sink = new LocalSink(dir);
  sinks.push(sink);
  return openImageDiskWriter(sink, { name: 'disk.vhd', format: 'vhd', virtualSize, source: 'raw', stage: false, ...(checkpoint ? { checkpoint } : {}) });
}

/** The file is the disk's bytes and one valid footer after them; returns the footer. */
async function expectVhdOf(path: string): Promise<Buffer> {
  const file = await readFile(path);
  expect(file.length).toBe(DISK + VHD_FOOTER_SIZE);
  expect(file.subarray(0, DISK).equals(disk)).toBe(true);
  const footer = file.subarray(DISK);
  expect(fixedVhdFooterProblem(footer, DISK)).toBeUndefined();
  return footer;
}

describe('vhd images', () => {
  it('are the disk, holes where it is zero, then a fixed-VHD footer of its size, hashed with the file', async () => {
    const dir = tempDir();
    const writer = await writerIn(dir);
    for (const e of EXTENTS) await writer.writeAt(e.offset, e.data);
    await writer.flush();
    const done = await writer.finish();
    const path = join(dir, 'disk.vhd');
    const footer = await expectVhdOf(path);
    expect(readVhdFooter(footer)).toMatchObject({ creatorApplication: 'win ', currentSize: DISK, originalSize: DISK, diskType: 2 });
    expect(done.sizeBytes).toBe(DISK + VHD_FOOTER_SIZE);
    expect(done.sha256).toBe(sha256(await readFile(path)));
    // Only the data (and the footer's block) take space: the zeros between are holes.
    const { blocks } = await stat(path);
    expect(blocks * 512).toBeLessThan(2 * MiB);
  });

  it('take a sequential stream of the disk too (a source read in order)', async () => {
    const dir = tempDir();
    const writer = await writerIn(dir);
    for (let at = 0; at < DISK; at += MiB) await writer.write(disk.subarray(at, at + MiB));
    await writer.flush();
    const done = await writer.finish();
    await expectVhdOf(join(dir, 'disk.vhd'));
    expect(done.sha256).toBe(sha256(await readFile(join(dir, 'disk.vhd'))));
  });

  it('resume from the checkpoint, and a footer a killed attempt wrote is cut, never left in the middle or doubled', async () => {
    const dir = tempDir();
    const first = await writerIn(dir);
    await first.writeAt(EXTENTS[0]!.offset, EXTENTS[0]!.data);
    await first.writeAt(EXTENTS[1]!.offset, EXTENTS[1]!.data);
    const commit = await first.commit();
    expect(commit.offset).toBe(EXTENTS[1]!.offset + EXTENTS[1]!.data.length);
    const checkpoint = JSON.parse(JSON.stringify({ offset: commit.offset, sink: commit.state })) as WriterResumePoint; // as a heartbeat carries it
    expect(checkpoint.sink).toMatchObject({ kind: 'image', format: 'vhd', raw: { format: 'raw-sparse', offset: commit.offset } });
    // The attempt went on past its checkpoint and was killed at the very end,
    // after writing a footer (as finish would) but before publishing the file.
    await first.writeAt(EXTENTS[2]!.offset, EXTENTS[2]!.data);
    await first.close();
    const partial = join(dir, '.disk.vhd.partial');
    const fh = await open(partial, 'r+');
    await fh.write(Buffer.alloc(VHD_FOOTER_SIZE, 0xee), 0, VHD_FOOTER_SIZE, DISK);
    await fh.close();
    expect((await stat(partial)).size).toBe(DISK + VHD_FOOTER_SIZE);

    const second = await writerIn(dir, checkpoint);
    expect(second.resumeOffset).toBe(commit.offset);
    await second.writeAt(EXTENTS[2]!.offset, EXTENTS[2]!.data);
    await second.flush();
    const done = await second.finish();
    const path = join(dir, 'disk.vhd');
    await expectVhdOf(path);
    expect(done.sha256).toBe(sha256(await readFile(path)));
  });

  it('refuse a disk that is not whole 512-byte sectors, naming it', async () => {
    const err = await writerIn(tempDir(), undefined, DISK + 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((err as Error).message).toBe(
      `disk.vhd: a fixed VHD holds whole 512-byte sectors, and this disk is ${DISK + 100} bytes (100 past the last whole sector); export it as raw or qcow2`,
    );
  });
});
