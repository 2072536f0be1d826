// Patch changed-blocks: AWS's StartSnapshot with ParentSnapshotId makes an incremental
// snapshot that holds the parent's blocks plus those written to it, and
// ListChangedBlocks lists every block the two differ in, by index, with the token of
// each side that holds it. moto ignores the parent and looks only at the first
// snapshot's blocks.
import { ListChangedBlocksCommand, type EBSClient } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ebsClient } from '../harness/aws-clients.js';
import { seedSnapshot, type SeededSnapshot } from '../harness/aws-seed.js';
import { getBlock, listAllBlocks, listAllChangedBlocks } from '../harness/ebs-read.js';

const aws = inject('aws');
const PARENT_INDEXES = [0, 100, 200, 300];
// 100 is written again; 1500 is new; 0, 200 and 300 are the parent's.
const CHILD_WRITES = [100, 1500];

interface Lineage {
  parent: SeededSnapshot;
  child: SeededSnapshot;
}

async function seedLineage(ebs: EBSClient): Promise<Lineage> {
  const parent = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: PARENT_INDEXES });
  const child = await seedSnapshot(ebs, {
    volumeSizeGiB: 1,
    blockIndexes: CHILD_WRITES,
    parentSnapshotId: parent.snapshotId,
  });
  return { parent, child };
}

let patched: EBSClient;
let unpatched: EBSClient;
let onPatched: Lineage;
let onUnpatched: Lineage;

beforeAll(async () => {
  patched = ebsClient(aws.patched);
  unpatched = ebsClient(aws.unpatched);
  [onPatched, onUnpatched] = await Promise.all([seedLineage(patched), seedLineage(unpatched)]);
});
afterAll(() => {
  patched.destroy();
  unpatched.destroy();
});

describe('moto as released', () => {
  it("lists the first snapshot's blocks as changed and misses the block written only to the second", async () => {
    const { changed } = await listAllChangedBlocks(
      unpatched,
      onUnpatched.parent.snapshotId,
      onUnpatched.child.snapshotId,
    );
    expect(changed.map((b) => Number(b.BlockIndex)).sort((a, b) => a - b)).toEqual(PARENT_INDEXES);
  });

  it('gives the incremental snapshot none of its parent blocks', async () => {
    const { blocks } = await listAllBlocks(unpatched, onUnpatched.child.snapshotId);
    expect(blocks.map((b) => Number(b.BlockIndex)).sort((a, b) => a - b)).toEqual(CHILD_WRITES);
  });
});

describe('patched', () => {
  it('the incremental snapshot holds its parent blocks plus its own writes', async () => {
    const { blocks } = await listAllBlocks(patched, onPatched.child.snapshotId);
    expect(blocks.map((b) => b.BlockIndex)).toEqual([0, 100, 200, 300, 1500]);
    const inherited = blocks.find((b) => b.BlockIndex === 200);
    const read = await getBlock(patched, onPatched.child.snapshotId, 200, inherited?.BlockToken ?? '');
    expect(read.data.equals(onPatched.parent.written.get(200) ?? Buffer.alloc(0))).toBe(true);
  });

  it('lists exactly the blocks written to the second, with a FirstBlockToken only where the first has the block', async () => {
    const { parent, child } = onPatched;
    const { changed } = await listAllChangedBlocks(patched, parent.snapshotId, child.snapshotId);
    expect(changed.map((b) => b.BlockIndex)).toEqual(CHILD_WRITES);
    const [rewritten, added] = changed;
    expect(added?.FirstBlockToken).toBeUndefined();
    // Each token reads its own snapshot's version of the block.
    const before = await getBlock(patched, parent.snapshotId, 100, rewritten?.FirstBlockToken ?? '');
    const after = await getBlock(patched, child.snapshotId, 100, rewritten?.SecondBlockToken ?? '');
    expect(before.data.equals(parent.written.get(100) ?? Buffer.alloc(0))).toBe(true);
    expect(after.data.equals(child.written.get(100) ?? Buffer.alloc(0))).toBe(true);
    const fresh = await getBlock(patched, child.snapshotId, 1500, added?.SecondBlockToken ?? '');
    expect(fresh.data.equals(child.written.get(1500) ?? Buffer.alloc(0))).toBe(true);
  });

  it('refuses to compare snapshots of different lineages', async () => {
    const stranger = await seedSnapshot(patched, { volumeSizeGiB: 1, blockIndexes: [100] });
    await expect(
      patched.send(
        new ListChangedBlocksCommand({
          FirstSnapshotId: stranger.snapshotId,
          SecondSnapshotId: onPatched.child.snapshotId,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', Reason: 'UNRELATED_SNAPSHOTS' });
  });
});
