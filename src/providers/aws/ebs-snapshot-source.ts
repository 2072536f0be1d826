// An EBS snapshot read through the EBS direct APIs as an ExtentSource: the
// blocks ListSnapshotBlocks names are the allocation map (every other block is
// a hole), each read is one GetSnapshotBlock of one 512 KiB block, verified
// against the SHA-256 the service sends with it before it is handed on.
//
// Block tokens: every listed block comes with a token that GetSnapshotBlock
// needs and that expires (ExpiryTime of its page). Pages are listed lazily, as
// the transfer reaches them, so a token is normally used minutes after it was
// listed; one that has expired anyway (a long pause, a slow sink) is listed
// again from its block before the read is retried. Memory: one page of tokens
// (at most 10,000 blocks' worth) at a time, whatever the volume's size.
//
// Failures: a checksum that does not match, a short block or a throttled call
// is retryable (the engine reads the block again); AccessDenied is final and
// names the action the credentials lack.
import {
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  type EBSClient,
  type ListSnapshotBlocksCommandOutput,
} from '@aws-sdk/client-ebs';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { ErrorType } from '../../core/errors.js';
import type { Extent, ExtentSource } from '../../core/extent-source.js';
import { EbsBlockReader, watchEndpoint } from './ebs-block-reader.js';

export interface EbsSnapshotSourceOptions {
  ebs: EBSClient;
  snapshotId: string;
  /** GetSnapshotBlock calls in flight; default 32. */
  concurrency?: number;
  /** Blocks per ListSnapshotBlocks page: 100..10000, default 10000. */
  pageSize?: number;
  /**
   * An earlier snapshot of the same volume: only the blocks that differ from it
   * are listed (ListChangedBlocks), the changes an incremental export applies. A
   * block the earlier snapshot held and this one does not reads as zeros.
   */
  since?: string;
  /** The snapshot's region, named in messages (the client knows it, but only asynchronously). */
  region?: string;
}

/** The handle of a changed block this snapshot does not hold: it reads as zeros. */
const ZERO_HANDLE = 'zero';

/** A token is refreshed this long before the expiry its page announced. */
const EXPIRY_MARGIN_MS = 60_000;

export class EbsSnapshotSource implements ExtentSource {
  readonly concurrency: number;
  readonly maxReadBytes: number;
  readonly where: string;
  /** ListSnapshotBlocks calls made to refresh expired tokens (tests and logs). */
  relists = 0;

  private constructor(
    private readonly o: EbsSnapshotSourceOptions,
    readonly sizeBytes: number,
    private readonly blockSize: number,
  ) {
    this.concurrency = o.concurrency ?? 32;
    this.maxReadBytes = blockSize;
    this.where = `EBS snapshot ${o.snapshotId}${o.region ? ` (${o.region})` : ''}${o.since ? ` (changes since ${o.since})` : ''}`;
  }

  /** Asks the snapshot's size and block size (one page of one block). */
  static async open(o: EbsSnapshotSourceOptions): Promise<EbsSnapshotSource> {
    // The block reads go to the endpoint this first SDK call resolves.
    watchEndpoint(o.ebs);
    const first = await listPage(o, { MaxResults: 100 });
    if (first.VolumeSize === undefined || first.BlockSize === undefined || first.BlockSize <= 0) {
      throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message: `EBS snapshot ${o.snapshotId}: ListSnapshotBlocks gave no volume or block size` });
    }
    return new EbsSnapshotSource(o, first.VolumeSize * 2 ** 30, first.BlockSize);
  }

  identity(): { sizeBytes: number; etag: string } {
    // A snapshot never changes: its id (and the base of the changes) is its identity.
    return { sizeBytes: this.sizeBytes, etag: this.o.since ? `${this.o.since}..${this.o.snapshotId}` : this.o.snapshotId };
  }

  async *allocated(from: number, signal: AbortSignal): AsyncIterable<Extent> {
    const bs = this.blockSize;
    let nextToken: string | undefined;
    const startingBlock = Math.floor(from / bs);
    do {
      if (signal.aborted) return;
      const page = await this.listing({
        MaxResults: this.o.pageSize ?? 10_000,
        ...(nextToken ? { NextToken: nextToken } : { StartingBlockIndex: startingBlock }),
      });
      for (const block of page.blocks) {
        yield { offset: block.index * bs, length: Math.min(bs, this.sizeBytes - block.index * bs), handle: block.token ? encodeHandle(block.token, page.expires) : ZERO_HANDLE };
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }

  /** One page of the allocation map: the snapshot's blocks, or those changed since `since` (token absent: not in this snapshot). */
  private async listing(page: { MaxResults: number; StartingBlockIndex?: number; NextToken?: string }): Promise<{ blocks: { index: number; token?: string }[]; expires: number; nextToken?: string }> {
    if (!this.o.since) {
      const out = await listPage(this.o, page);
      const blocks = (out.Blocks ?? []).flatMap((b) => (b.BlockIndex !== undefined && b.BlockToken !== undefined ? [{ index: b.BlockIndex, token: b.BlockToken }] : []));
      return { blocks, expires: out.ExpiryTime?.getTime() ?? Infinity, ...(out.NextToken ? { nextToken: out.NextToken } : {}) };
    }
    const first = this.o.since;
    const out = await send(this.o, 'ListChangedBlocks', () =>
      this.o.ebs.send(new ListChangedBlocksCommand({ FirstSnapshotId: first, SecondSnapshotId: this.o.snapshotId, ...page })),
    );
    const blocks = (out.ChangedBlocks ?? []).flatMap((b) => (b.BlockIndex !== undefined ? [{ index: b.BlockIndex, ...(b.SecondBlockToken ? { token: b.SecondBlockToken } : {}) }] : []));
    return { blocks, expires: out.ExpiryTime?.getTime() ?? Infinity, ...(out.NextToken ? { nextToken: out.NextToken } : {}) };
  }

  /**
   * One block, or the part of one a resumed transfer still needs (its checkpoint may
   * fall inside a block: the whole block is read and verified, and the part returned).
   */
  async read(extent: Extent, signal: AbortSignal): Promise<Buffer> {
    const bs = this.blockSize;
    const index = Math.floor(extent.offset / bs);
    const within = extent.offset - index * bs;
    if (within + extent.length > bs) {
      throw new Error(`${this.where}: a read must stay within one block (offset ${extent.offset}, length ${extent.length})`);
    }
    const blockLength = Math.min(bs, this.sizeBytes - index * bs);
    if (extent.handle === ZERO_HANDLE) return Buffer.alloc(extent.length);
    const listed = within === 0 && extent.handle ? decodeHandle(extent.handle) : undefined;
    let token = listed && listed.expires - EXPIRY_MARGIN_MS > Date.now() ? listed.token : await this.freshToken(index);
    // A change this snapshot does not hold (the block was freed): zeros.
    if (token === undefined) return Buffer.alloc(extent.length);
    let block: Buffer;
    try {
      block = await this.getBlock(index, token, blockLength, signal);
    } catch (err) {
      if (!isExpiredToken(err)) throw err;
      token = await this.freshToken(index);
      if (token === undefined) return Buffer.alloc(extent.length);
      block = await this.getBlock(index, token, blockLength, signal);
    }
    return within === 0 && extent.length === block.length ? block : block.subarray(within, within + extent.length);
  }

  /** A new token for block `index`; undefined for a change this snapshot does not hold (it reads as zeros). */
  private async freshToken(index: number): Promise<string | undefined> {
    this.relists++;
    const page = await listPage(this.o, { StartingBlockIndex: index, MaxResults: 100 });
    const block = page.Blocks?.find((b) => b.BlockIndex === index);
    if (!block?.BlockToken && this.o.since) return undefined;
    if (!block?.BlockToken) {
      throw ApplicationFailure.create({ type: ErrorType.SourceChanged, message: `${this.where}: block ${index} is no longer listed`, nonRetryable: true });
    }
    return block.BlockToken;
  }

  /** A block buffer the transfer has written: read the next block into it. */
  recycle(data: Buffer): void {
    readers.get(this.o.ebs)?.recycle(data);
  }

  private async getBlock(index: number, token: string, length: number, signal: AbortSignal): Promise<Buffer> {
    const out = await send(this.o, 'GetSnapshotBlock', () => blockReaderOf(this.o.ebs).getBlock(this.o.snapshotId, index, token, signal));
    const { data } = out;
    if (data.length !== (out.dataLength ?? data.length) || data.length !== length) {
      throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message: `${this.where}: block ${index} came with ${data.length} bytes, ${out.dataLength ?? '?'} announced, ${length} expected` });
    }
    if (out.checksumAlgorithm !== 'SHA256' || !out.checksum) {
      throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message: `${this.where}: block ${index} came without a SHA-256 checksum (${out.checksumAlgorithm ?? 'none'})` });
    }
    const actual = createHash('sha256').update(data).digest('base64');
    if (actual !== out.checksum) {
      throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message: `${this.where}: block ${index} does not match its checksum (${actual}, sent ${out.checksum}); read again` });
    }
    return data;
  }
}

/** One block reader per client, shared by every snapshot it reads; closeBlockReader ends it with the client. */
const readers = new WeakMap<EBSClient, EbsBlockReader>();
const READER_CONNECTIONS = 64;

function blockReaderOf(ebs: EBSClient): EbsBlockReader {
  let reader = readers.get(ebs);
  if (!reader) {
    reader = new EbsBlockReader(ebs, READER_CONNECTIONS);
    readers.set(ebs, reader);
  }
  return reader;
}

/** Closes the connections the block reads of `ebs` keep open (with the client, when its provider logs out). */
export async function closeBlockReader(ebs: EBSClient): Promise<void> {
  const reader = readers.get(ebs);
  readers.delete(ebs);
  await reader?.close();
}

function listPage(o: EbsSnapshotSourceOptions, page: { MaxResults: number; StartingBlockIndex?: number; NextToken?: string }): Promise<ListSnapshotBlocksCommandOutput> {
  return send(o, 'ListSnapshotBlocks', () => o.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: o.snapshotId, ...page })));
}

/** One EBS call, its refusals as the workflow's types: AccessDenied names the missing action and is final. */
async function send<T>(o: EbsSnapshotSourceOptions, action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const name = (err as { name?: string }).name;
    // A 403 whose body is not the API's JSON error (a proxy's page, moto's XML) refuses
    // just the same; a 403 the SDK could name as a credential problem is not a missing action.
    if (name === 'AccessDeniedException' || (httpStatusOf(err) === 403 && !/signature|token|credential|unrecognized/i.test(name ?? ''))) {
      throw ApplicationFailure.create({
        type: ErrorType.SourceRefused,
        message: `EBS snapshot ${o.snapshotId}${o.region ? ` in ${o.region}` : ''}: access denied to ebs:${action}; grant it to the credentials the worker uses (README, AWS section)`,
        nonRetryable: true,
      });
    }
    if (name === 'ResourceNotFoundException') {
      throw ApplicationFailure.create({ type: ErrorType.SourceRefused, message: `EBS snapshot ${o.snapshotId} not found${o.region ? ` in ${o.region}` : ''} (${action})`, nonRetryable: true });
    }
    throw err;
  }
}

/** The HTTP status of a failed SDK call, also when its error body could not be parsed. */
function httpStatusOf(err: unknown): number | undefined {
  const e = err as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } };
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

function isExpiredToken(err: unknown): boolean {
  const e = err as { name?: string; Reason?: string; message?: string };
  return e.name === 'ValidationException' && (e.Reason === 'INVALID_BLOCK_TOKEN' || /token/i.test(e.message ?? ''));
}

function encodeHandle(token: string, expires: number): string {
  return `${Number.isFinite(expires) ? expires : 0}:${token}`;
}

function decodeHandle(handle: string): { token: string; expires: number } {
  const at = handle.indexOf(':');
  const expires = Number(handle.slice(0, at));
  return { token: handle.slice(at + 1), expires: expires === 0 ? Infinity : expires };
}
