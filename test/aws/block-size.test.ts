// Patch block-size: AWS's EBS direct blocks are 512 KiB (BlockSize 524288); moto says 512.
import type { EBSClient } from '@aws-sdk/client-ebs';
import { ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ebsClient } from '../harness/aws-clients.js';
import { EBS_BLOCK_SIZE, seedSnapshot } from '../harness/aws-seed.js';

const aws = inject('aws');
let patched: EBSClient;
let unpatched: EBSClient;

beforeAll(() => {
  patched = ebsClient(aws.patched);
  unpatched = ebsClient(aws.unpatched);
});
afterAll(() => {
  patched.destroy();
  unpatched.destroy();
});

async function blockSizeOf(ebs: EBSClient): Promise<number | undefined> {
  const { snapshotId } = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: [5] });
  return (await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }))).BlockSize;
}

it('moto as released reports BlockSize 512', async () => {
  expect(await blockSizeOf(unpatched)).toBe(512);
});

it('patched, BlockSize is 524288 as AWS documents', async () => {
  expect(await blockSizeOf(patched)).toBe(EBS_BLOCK_SIZE);
});
