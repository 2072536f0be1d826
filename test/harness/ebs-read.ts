// Reads EBS snapshots as a client of AWS would, page by page, so tests can compare a
// server's answers with what was seeded.
import {
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  type Block,
  type ChangedBlock,
  type EBSClient,
} from '@aws-sdk/client-ebs';

/** Every block of a snapshot, following NextToken; `pages` counts the requests it took. */
export async function listAllBlocks(
  ebs: EBSClient,
  snapshotId: string,
  maxResults?: number,
): Promise<{ blocks: Block[]; pages: number; blockSize: number | undefined }> {
  const blocks: Block[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  let blockSize: number | undefined;
  do {
    const page = await ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, MaxResults: maxResults, NextToken: nextToken }),
    );
    pages += 1;
    blockSize = page.BlockSize;
    blocks.push(...(page.Blocks ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return { blocks, pages, blockSize };
}

/** Every changed block between two snapshots, following NextToken. */
export async function listAllChangedBlocks(
  ebs: EBSClient,
  firstSnapshotId: string,
  secondSnapshotId: string,
  maxResults?: number,
): Promise<{ changed: ChangedBlock[]; pages: number }> {
  const changed: ChangedBlock[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const page = await ebs.send(
      new ListChangedBlocksCommand({
        FirstSnapshotId: firstSnapshotId,
        SecondSnapshotId: secondSnapshotId,
        MaxResults: maxResults,
        NextToken: nextToken,
      }),
    );
    pages += 1;
    changed.push(...(page.ChangedBlocks ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return { changed, pages };
}

/** One block's bytes and the checksum the server sent with them. */
export async function getBlock(
  ebs: EBSClient,
  snapshotId: string,
  blockIndex: number,
  blockToken: string,
): Promise<{ data: Buffer; checksum: string | undefined; algorithm: string | undefined }> {
  const answer = await ebs.send(
    new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: blockIndex, BlockToken: blockToken }),
  );
  if (answer.BlockData === undefined)
    throw new Error(`GetSnapshotBlock ${snapshotId}/${blockIndex} returned no data`);
  const data = Buffer.from(await answer.BlockData.transformToByteArray());
  return { data, checksum: answer.Checksum, algorithm: answer.ChecksumAlgorithm };
}
