// The seeded data comes back through the EBS direct read calls: the listing names
// exactly the blocks written (the rest are holes) and every block is the bytes written,
// with a SHA-256 that verifies.
import type { EBSClient } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ebsClient } from '../harness/aws-clients.js';
import { seedSnapshot, sha256Base64, type SeededSnapshot } from '../harness/aws-seed.js';
import { getBlock, listAllBlocks } from '../harness/ebs-read.js';

const aws = inject('aws');
// The first blocks, one far inside, the very last of a 1 GiB volume.
const SEEDED_INDEXES = [0, 1, 700, 2047];

let ebs: EBSClient;
let seeded: SeededSnapshot;

beforeAll(async () => {
  ebs = ebsClient(aws.patched);
  seeded = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: SEEDED_INDEXES });
});
afterAll(() => ebs.destroy());

it('lists exactly the seeded blocks of the snapshot', async () => {
  const { blocks } = await listAllBlocks(ebs, seeded.snapshotId);
  expect(blocks.map((b) => b.BlockIndex)).toEqual(SEEDED_INDEXES);
});

it('GetSnapshotBlock returns the seeded bytes of each block with a SHA-256 checksum that verifies', async () => {
  const { blocks } = await listAllBlocks(ebs, seeded.snapshotId);
  for (const { BlockIndex: index, BlockToken: token } of blocks) {
    if (index === undefined || token === undefined) throw new Error('a listed block without index or token');
    const read = await getBlock(ebs, seeded.snapshotId, index, token);
    expect(read.algorithm).toBe('SHA256');
    expect(read.checksum).toBe(sha256Base64(read.data));
    expect(read.data.equals(seeded.written.get(index) ?? Buffer.alloc(0)), `block ${index}`).toBe(true);
  }
});
