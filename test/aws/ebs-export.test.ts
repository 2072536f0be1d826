// An EBS snapshot exported to raw and qcow2 through the extent engine: only the
// listed blocks are read, each verified by its SHA-256, and qemu-img finds each
// image identical to the seeded volume (written out locally from what was seeded).
import type { EBSClient } from '@aws-sdk/client-ebs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { EbsSnapshotSource } from '../../src/providers/aws/ebs-snapshot-source.js';
import { openImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import { transferExtents } from '../../src/transfer/extent-transfer.js';
import type { TransferCheckpoint } from '../../src/transfer/types.js';
import { startMoto } from '../../src/devservices/moto.js';
import { ebsClient } from '../harness/aws-clients.js';
import { EBS_BLOCK_SIZE, seedSnapshot, type SeededSnapshot } from '../harness/aws-seed.js';

const aws = inject('aws');
const GiB = 2 ** 30;
// The first blocks, a run in the middle, the very last block of a 1 GiB volume.
const SEEDED = [0, 1, 2, 700, 701, 1024, 2047];

let dir: string;
let ebs: EBSClient;
let seeded: SeededSnapshot;
let volumePath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hyper-ebs-'));
  ebs = ebsClient(aws.patched);
  seeded = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: SEEDED });
  volumePath = await writeVolume(seeded, 'volume.raw');
});

/** The volume as AWS would restore it from the snapshot: the seeded blocks, zeros elsewhere. */
async function writeVolume(snapshot: SeededSnapshot, name: string): Promise<string> {
  const path = join(dir, name);
  const fh = await open(path, 'w');
  await fh.truncate(snapshot.volumeSizeGiB * GiB);
  for (const [index, data] of snapshot.written) await fh.write(data, 0, data.length, index * EBS_BLOCK_SIZE);
  await fh.close();
  return path;
}
afterAll(async () => {
  ebs?.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function exportSnapshot(source: EbsSnapshotSource, format: 'raw' | 'qcow2', name: string) {
  const sink = new LocalSink(dir);
  const writer = await openImageDiskWriter(sink, { name, format, virtualSize: source.sizeBytes, source: 'raw', stage: false });
  try {
    return await transferExtents({ source, writer, signal: new AbortController().signal, onCheckpoint: () => undefined });
  } finally {
    await sink.close();
  }
}

describe('an EBS snapshot through the extent engine', () => {
  it.each(['qcow2', 'raw'] as const)('%s: only the listed blocks are read, and the image is the volume', async (format) => {
    const source = await EbsSnapshotSource.open({ ebs, snapshotId: seeded.snapshotId, concurrency: 4 });
    expect(source.sizeBytes).toBe(GiB);
    const result = await exportSnapshot(source, format, `snap.${format}`);
    expect(result.bytesReceived).toBe(SEEDED.length * EBS_BLOCK_SIZE);
    const image = join(dir, `snap.${format}`);
    if (format === 'qcow2') await expectValidCopy(image, volumePath, GiB);
    else expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', image, volumePath)).stdout).toContain('Images are identical');
  });

  it('a block token that expired before its block was read is listed again, and the read succeeds', async () => {
    // A server whose tokens live one second, the snapshot seeded there.
    const short = await startMoto({ workDir: aws.workDir, without: aws.patchesLeftOut, blockTokenSeconds: 1 });
    const client = ebsClient({ endpoint: short.endpoint, region: short.region });
    try {
      const snap = await seedSnapshot(client, { volumeSizeGiB: 1, blockIndexes: [5, 900] });
      const source = await EbsSnapshotSource.open({ ebs: client, snapshotId: snap.snapshotId });
      const listed = [];
      for await (const extent of source.allocated(0, new AbortController().signal)) listed.push(extent);
      expect(listed.map((e) => e.offset / EBS_BLOCK_SIZE)).toEqual([5, 900]);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const data = await source.read(listed[1]!, new AbortController().signal);
      expect(data.equals(snap.written.get(900)!)).toBe(true);
      expect(source.relists).toBe(1);
    } finally {
      client.destroy();
      await short.stop();
    }
  });
});

describe('a block that arrives corrupted', () => {
  it('is read again, never written: the image is still the volume', async () => {
    // The first two blocks read arrive with a byte flipped and their true checksum.
    const faulty = await startMoto({ workDir: aws.workDir, without: aws.patchesLeftOut, corruptBlockReads: 2 });
    const client = ebsClient({ endpoint: faulty.endpoint, region: faulty.region });
    try {
      const snap = await seedSnapshot(client, { volumeSizeGiB: 1, blockIndexes: SEEDED });
      const source = await EbsSnapshotSource.open({ ebs: client, snapshotId: snap.snapshotId, concurrency: 1 });
      const reads: string[] = [];
      const read = source.read.bind(source);
      source.read = (extent, signal) =>
        read(extent, signal).then(
          (data) => (reads.push(`ok ${extent.offset / EBS_BLOCK_SIZE}`), data),
          (err: unknown) => {
            reads.push(`refused ${extent.offset / EBS_BLOCK_SIZE}: ${(err as Error).message}`);
            throw err;
          },
        );
      await exportSnapshot(source, 'qcow2', 'corrupted.qcow2');
      // Block 0 refused twice (checksum), then read; every other block once.
      expect(reads.filter((r) => r.startsWith('refused 0:') && r.includes('does not match its checksum'))).toHaveLength(2);
      expect(reads.filter((r) => r.startsWith('ok'))).toHaveLength(SEEDED.length);
      await expectValidCopy(join(dir, 'corrupted.qcow2'), await writeVolume(snap, 'corrupted-volume.raw'), GiB);
    } finally {
      client.destroy();
      await faulty.stop();
    }
  });
});

describe('a transfer stopped mid-way (as a killed worker is)', () => {
  it('resumes at its checkpoint: no block is fetched twice, and the image is the volume', async () => {
    // Many blocks, read one at a time, so the stop comes between checkpoints.
    const indexes = Array.from({ length: 200 }, (_, i) => i * 10);
    const snap = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: indexes });
    const sink = new LocalSink(dir);
    const name = 'resumed.qcow2';
    const stop = new AbortController();
    let last: TransferCheckpoint | undefined;
    const firstSource = await EbsSnapshotSource.open({ ebs, snapshotId: snap.snapshotId, concurrency: 1 });
    const first = await openImageDiskWriter(sink, { name, format: 'qcow2', virtualSize: GiB, source: 'raw', stage: false });
    const stopped = await transferExtents({
      source: firstSource,
      writer: first,
      signal: stop.signal,
      checkpointEveryMs: 20,
      onCheckpoint: (cp) => {
        last = JSON.parse(JSON.stringify(cp)) as TransferCheckpoint; // as a heartbeat carries it
        if (cp.offset >= 60 * 10 * EBS_BLOCK_SIZE) stop.abort(new Error('stopped as a killed worker would be'));
      },
    }).catch((err: unknown) => err);
    expect((stopped as Error).message).toContain('killed worker');
    const resumeAt = last!.offset;
    const blocksBefore = indexes.filter((i) => i * EBS_BLOCK_SIZE < resumeAt).length;
    expect(blocksBefore).toBeGreaterThanOrEqual(60);
    expect(blocksBefore).toBeLessThan(indexes.length);

    const second = await openImageDiskWriter(sink, { name, format: 'qcow2', virtualSize: GiB, source: 'raw', stage: false, checkpoint: { offset: last!.offset, sink: last!.sink } });
    const result = await transferExtents({ source: await EbsSnapshotSource.open({ ebs, snapshotId: snap.snapshotId }), writer: second, checkpoint: last!, signal: new AbortController().signal, onCheckpoint: () => undefined });
    await sink.close();
    expect(result.resumedFromOffset).toBe(resumeAt);
    // Exactly the blocks at or after the checkpoint: none fetched twice.
    expect(result.bytesReceived).toBe((indexes.length - blocksBefore) * EBS_BLOCK_SIZE);
    await expectValidCopy(join(dir, name), await writeVolume(snap, 'resumed-volume.raw'), GiB);
  });
});

describe('a read of part of a block', () => {
  it('(a checkpoint inside a block) reads the whole block, verifies it, and returns the part', async () => {
    const source = await EbsSnapshotSource.open({ ebs, snapshotId: seeded.snapshotId });
    const offset = 700 * EBS_BLOCK_SIZE + 65536;
    const part = await source.read({ offset, length: 131072 }, new AbortController().signal);
    expect(part.equals(seeded.written.get(700)!.subarray(65536, 65536 + 131072))).toBe(true);
    await expect(source.read({ offset, length: EBS_BLOCK_SIZE }, new AbortController().signal)).rejects.toThrow(/within one block/);
  });
});
