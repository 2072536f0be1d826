// Seeds EBS snapshots the way AWS lets anyone write one: StartSnapshot, PutSnapshotBlock
// of each block with its SHA-256, CompleteSnapshot. The data is random, kept in memory,
// at block indexes the test chooses (with long holes between them), so a reader can be
// checked byte for byte against what was written.
import {
  CompleteSnapshotCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
  type EBSClient,
} from '@aws-sdk/client-ebs';
import { createHash, randomBytes } from 'node:crypto';

/** AWS: a block index is in units of 512 KiB (logical offset / 524288). */
export const EBS_BLOCK_SIZE = 524_288;
const BLOCKS_PER_GIB = 2048;

export interface SeededSnapshot {
  snapshotId: string;
  volumeSizeGiB: number;
  /** The blocks this seeding wrote and what each holds; the rest of the volume is holes (or the parent's). */
  written: ReadonlyMap<number, Buffer>;
}

export interface SeedOptions {
  volumeSizeGiB: number;
  blockIndexes: readonly number[];
  /** Start an incremental snapshot of this one: the new snapshot holds its blocks plus those written now. */
  parentSnapshotId?: string;
  /** Puts in flight at once. */
  concurrency?: number;
}

export function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

/** `count` block indexes, `gap` apart from `first`: data with long holes between. */
export function spacedBlockIndexes(count: number, gap: number, first = 0): number[] {
  return Array.from({ length: count }, (_, i) => first + i * gap);
}

export async function seedSnapshot(ebs: EBSClient, options: SeedOptions): Promise<SeededSnapshot> {
  const blockCount = options.volumeSizeGiB * BLOCKS_PER_GIB;
  const outside = options.blockIndexes.filter((i) => !Number.isInteger(i) || i < 0 || i >= blockCount);
  if (outside.length > 0)
    throw new Error(`block indexes ${outside.join(', ')} are not in a ${options.volumeSizeGiB} GiB volume`);
  const started = await ebs.send(
    new StartSnapshotCommand({
      VolumeSize: options.volumeSizeGiB,
      ParentSnapshotId: options.parentSnapshotId,
      Description: 'seeded by the hypersdk test harness',
    }),
  );
  const snapshotId = started.SnapshotId;
  if (snapshotId === undefined) throw new Error('StartSnapshot returned no SnapshotId');

  const written = new Map<number, Buffer>(options.blockIndexes.map((i) => [i, randomBytes(EBS_BLOCK_SIZE)]));
  const queue = [...written.entries()];
  const putNext = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [index, data] = next;
      await ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: index,
          BlockData: data,
          DataLength: data.length,
          Checksum: sha256Base64(data),
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, putNext));
  await ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: written.size }));
  return { snapshotId, volumeSizeGiB: options.volumeSizeGiB, written };
}
