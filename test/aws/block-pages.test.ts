// Patch block-pages: AWS pages ListSnapshotBlocks (MaxResults 100..10000, NextToken,
// StartingBlockIndex) in numerical order, and GetSnapshotBlock needs the block's own,
// unexpired token. moto answers one page of everything in write order and ignores the
// token.
import { GetSnapshotBlockCommand, ListSnapshotBlocksCommand, type EBSClient } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMoto, type Moto } from '../../src/devservices/moto.js';
import { ebsClient } from '../harness/aws-clients.js';
import { seedSnapshot, spacedBlockIndexes, type SeededSnapshot } from '../harness/aws-seed.js';
import { getBlock, listAllBlocks } from '../harness/ebs-read.js';

const aws = inject('aws');
// More than one page of the smallest MaxResults AWS allows (100), 15 blocks apart,
// written from the last to the first so that write order is not index order.
const SEEDED_INDEXES = spacedBlockIndexes(110, 15);
const WRITE_ORDER = [...SEEDED_INDEXES].reverse();
// A token that names no block (valid base64, as AWS's token pattern requires).
const FOREIGN_TOKEN = Buffer.from('not a block token').toString('base64');

let patched: EBSClient;
let unpatched: EBSClient;
let onPatched: SeededSnapshot;
let onUnpatched: SeededSnapshot;

beforeAll(async () => {
  patched = ebsClient(aws.patched);
  unpatched = ebsClient(aws.unpatched);
  [onPatched, onUnpatched] = await Promise.all([
    seedSnapshot(patched, { volumeSizeGiB: 1, blockIndexes: WRITE_ORDER }),
    seedSnapshot(unpatched, { volumeSizeGiB: 1, blockIndexes: WRITE_ORDER }),
  ]);
});
afterAll(() => {
  patched.destroy();
  unpatched.destroy();
});

describe('moto as released', () => {
  it('answers MaxResults 100 with every block in one page, without NextToken, not in index order', async () => {
    const page = await unpatched.send(
      new ListSnapshotBlocksCommand({ SnapshotId: onUnpatched.snapshotId, MaxResults: 100 }),
    );
    expect(page.Blocks).toHaveLength(SEEDED_INDEXES.length);
    expect(page.NextToken).toBeUndefined();
    expect(page.ExpiryTime).toBeUndefined();
    expect(page.Blocks?.map((b) => Number(b.BlockIndex))).not.toEqual(SEEDED_INDEXES);
  });

  it('serves a block for a token that names no block', async () => {
    const read = await getBlock(unpatched, onUnpatched.snapshotId, 15, FOREIGN_TOKEN);
    expect(read.data.equals(onUnpatched.written.get(15) ?? Buffer.alloc(0))).toBe(true);
  });
});

describe('patched', () => {
  it('pages MaxResults 100 at a time with NextToken, in numerical order, with an ExpiryTime', async () => {
    const first = await patched.send(
      new ListSnapshotBlocksCommand({ SnapshotId: onPatched.snapshotId, MaxResults: 100 }),
    );
    expect(first.Blocks).toHaveLength(100);
    expect(first.NextToken).toBeDefined();
    expect(first.ExpiryTime?.getTime()).toBeGreaterThan(Date.now());
    const all = await listAllBlocks(patched, onPatched.snapshotId, 100);
    expect(all.pages).toBe(2);
    expect(all.blocks.map((b) => b.BlockIndex)).toEqual(SEEDED_INDEXES);
  });

  it('starts a listing at StartingBlockIndex or the next block after it', async () => {
    const page = await patched.send(
      new ListSnapshotBlocksCommand({ SnapshotId: onPatched.snapshotId, StartingBlockIndex: 1000 }),
    );
    expect(page.Blocks?.map((b) => b.BlockIndex)).toEqual(SEEDED_INDEXES.filter((i) => i >= 1000));
  });

  it("refuses a token that is not this block's: another block's, or one that names no block", async () => {
    const { blocks } = await listAllBlocks(patched, onPatched.snapshotId);
    const tokenOf30 = blocks.find((b) => b.BlockIndex === 30)?.BlockToken;
    for (const token of [tokenOf30, FOREIGN_TOKEN]) {
      await expect(
        patched.send(
          new GetSnapshotBlockCommand({
            SnapshotId: onPatched.snapshotId,
            BlockIndex: 15,
            BlockToken: token,
          }),
        ),
      ).rejects.toMatchObject({ name: 'ValidationException', Reason: 'INVALID_BLOCK_TOKEN' });
    }
  });
});

describe('patched, with block tokens that live one second', () => {
  let shortLived: Moto;
  let ebs: EBSClient;
  beforeAll(async () => {
    shortLived = await startMoto({ workDir: aws.workDir, without: aws.patchesLeftOut, blockTokenSeconds: 1 });
    ebs = ebsClient(shortLived);
  });
  afterAll(async () => {
    ebs.destroy();
    await shortLived.stop();
  });

  it('refuses an expired token; listing again gives one that works', async () => {
    const seeded = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: [42] });
    const token = async () => (await listAllBlocks(ebs, seeded.snapshotId)).blocks[0]?.BlockToken ?? '';
    const stale = await token();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await expect(getBlock(ebs, seeded.snapshotId, 42, stale)).rejects.toMatchObject({
      Reason: 'INVALID_BLOCK_TOKEN',
    });
    const read = await getBlock(ebs, seeded.snapshotId, 42, await token());
    expect(read.data.equals(seeded.written.get(42) ?? Buffer.alloc(0))).toBe(true);
  });
});
