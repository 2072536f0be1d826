// The transfer engine for disks read as extents: a source that says which bytes
// hold data (an allocation map: EBS ListSnapshotBlocks, a page blob's page
// ranges, vSphere's changed areas) and reads any extent of them, concurrently.
// transfer-disk.ts streams one GET from an offset; this one never fetches what
// the source calls unallocated (those bytes become holes or unallocated clusters
// in the image) and keeps `concurrency` reads in flight, so a source that serves
// each request slowly (high latency, per-request limits) is read at the speed of
// several.
//
// Order: pieces (extents cut to at most maxReadBytes) come from one generator
// and are read by up to `concurrency` reads at once, started in offset order; the
// oldest is written first, so the image writer sees increasing offsets, and
// memory holds at most `concurrency` pieces (`concurrency` × maxReadBytes:
// 32 MiB at the defaults of the HTTP source).
//
// Failures: a piece whose read fails retryably is read again (READ_ATTEMPTS in
// all, backing off) before the transfer fails; a final error fails at once. A
// failed or cancelled transfer cancels its reads, reports its last durable
// checkpoint and keeps the partial for a resume (final errors remove it).
// Resume: the writer's checkpoint says how far the image is durable; the next
// attempt asks the source for the extents from there on.
import type { ApplicationFailure } from '@temporalio/common';
import { setMaxListeners } from 'node:events';
import type { ImageDiskWriter } from '../storage/image/image-disk-writer.js';
import type { WriterCommit } from '../storage/sink.js';
import type { Extent, ExtentSource } from '../core/extent-source.js';
import { cancellation } from './cancellation.js';
import { ErrorType } from '../core/errors.js';
import { classifyTransferError, failure } from './failures.js';
import { identityMismatch } from './source-identity.js';
import type { TransferCheckpoint, TransferResult } from './types.js';

export interface ExtentTransferRequest {
  source: ExtentSource;
  /** An image writer opened with the checkpoint below (source 'raw'). */
  writer: ImageDiskWriter;
  checkpoint?: TransferCheckpoint;
  signal: AbortSignal;
  onCheckpoint(cp: TransferCheckpoint): void;
  /** Default 2000. A last checkpoint comes once everything is written. */
  checkpointEveryMs?: number;
}

const DEFAULT_CHECKPOINT_MS = 2000;
const READ_ATTEMPTS = 3;
const RETRY_BACKOFF_MS = [200, 1000];

/** Cuts the source's extents from `from` on into pieces of at most `max` bytes. */
export async function* pieces(extents: AsyncIterable<Extent>, from: number, max: number): AsyncGenerator<Extent> {
  let last = from;
  for await (const e of extents) {
    const start = Math.max(e.offset, from);
    const end = e.offset + e.length;
    if (end <= start) continue;
    if (start < last) throw new Error(`allocation map: extent at ${e.offset} overlaps or precedes the one before (ending at ${last})`);
    if (start === e.offset && e.length <= max) yield e; // whole, with the source's handle
    else for (let at = start; at < end; at += max) yield { offset: at, length: Math.min(max, end - at) };
    last = end;
  }
}

export async function transferExtents(req: ExtentTransferRequest): Promise<TransferResult> {
  const run = new ExtentRun(req);
  try {
    return await run.run();
  } catch (err) {
    await run.stop();
    if (req.signal.aborted) {
      await run.lastCheckpoint();
      await req.writer.close().catch(() => undefined);
      throw cancellation(req.signal);
    }
    const f = classifyTransferError(err, req.source.where);
    if (f.nonRetryable) await req.writer.abort().catch(() => undefined);
    else {
      await run.lastCheckpoint();
      await req.writer.close().catch(() => undefined);
    }
    throw f;
  }
}

class ExtentRun {
  private readonly reads = new AbortController();
  private bytesReceived = 0;
  private timer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private commitError: Error | undefined;
  private inFlight: Promise<unknown>[] = [];
  private lastEmitted = -1;

  constructor(private readonly req: ExtentTransferRequest) {
    // Every read in flight listens on this signal (an SDK call adds its own listener).
    setMaxListeners(req.source.concurrency * 2 + 10, this.reads.signal);
  }

  async run(): Promise<TransferResult> {
    const { writer, signal } = this.req;
    const onAbort = (): void => this.reads.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const start = writer.resumeOffset;
      const restartedFromZero = this.req.checkpoint !== undefined && this.req.checkpoint.offset > 0 && start === 0;
      this.timer = setInterval(() => this.tick(), this.req.checkpointEveryMs ?? DEFAULT_CHECKPOINT_MS);
      await this.copy(start);
      await this.stop();
      if (this.commitError !== undefined) throw this.commitError;
      await writer.flush();
      this.emit(await writer.commit());
      const file = await writer.finish();
      if (!file.sha256) throw new Error(`${writer.name}: the image writer reported no SHA-256`);
      return { bytes: file.sizeBytes, sha256: file.sha256, resumedFromOffset: start, restartedFromZero, bytesReceived: this.bytesReceived, file };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Reads ahead up to `concurrency` pieces and writes them in order. */
  private async copy(start: number): Promise<void> {
    const { source, writer } = this.req;
    const queue: { piece: Extent; data: Promise<Buffer> }[] = [];
    const next = pieces(source.allocated(start, this.reads.signal), start, source.maxReadBytes);
    let exhausted = false;
    let firstOffset = -1;
    const fill = async (): Promise<void> => {
      while (!exhausted && queue.length < source.concurrency) {
        const n = await next.next();
        if (n.done) {
          exhausted = true;
          break;
        }
        if (firstOffset < 0) firstOffset = n.value.offset;
        const data = this.readPiece(n.value);
        data.catch(() => undefined); // observed when its turn comes, or dropped with the transfer
        queue.push({ piece: n.value, data });
        this.inFlight.push(data);
      }
    };
    try {
      await fill();
      while (queue.length > 0) {
        if (this.commitError !== undefined) throw this.commitError;
        const head = queue.shift()!;
        const data = await head.data;
        this.inFlight = this.inFlight.filter((p) => p !== head.data);
        if (head.piece.offset === firstOffset) await this.refuseChangedSource(start);
        // Refill before writing: the next reads run while this piece is written.
        const refill = fill();
        refill.catch(() => undefined); // a failed write is the error reported
        await writer.writeAt(head.piece.offset, data);
        // Written, and the writer keeps no reference: the source may read into it again.
        if (writer.releasesChunks === true) source.recycle?.(data);
        await refill;
      }
    } finally {
      // Not awaited: a failed transfer's reads are cancelled by stop(), which a pending page of the map may wait for.
      if (!exhausted) void next.return(undefined).catch(() => undefined);
    }
  }

  /**
   * A resumed image continues only over the bytes it was started from: once the
   * source has answered, its identity must be the checkpoint's. If not, the
   * partial goes and the next attempt starts a new image.
   */
  private async refuseChangedSource(start: number): Promise<void> {
    const before = this.req.checkpoint?.source;
    if (start === 0 || !before) return;
    const changed = identityMismatch(before, this.req.source.identity());
    if (!changed) return;
    await this.req.writer.abort().catch(() => undefined);
    throw failure(ErrorType.SourceChanged, `${this.req.source.where} changed since the last attempt (${changed}); starting over`);
  }

  private async readPiece(piece: Extent): Promise<Buffer> {
    const { source } = this.req;
    for (let attempt = 1; ; attempt++) {
      try {
        const data = await source.read(piece, this.reads.signal);
        if (data.length !== piece.length) {
          throw new Error(`${source.where}: read of [${piece.offset}, +${piece.length}) returned ${data.length} bytes`);
        }
        this.bytesReceived += data.length;
        return data;
      } catch (err) {
        const final = (err as Partial<ApplicationFailure>).nonRetryable === true;
        if (final || this.reads.signal.aborted || attempt >= READ_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRY_BACKOFF_MS[attempt - 1] ?? 1000));
      }
    }
  }

  private tick(): void {
    if (this.committing) return;
    this.committing = this.req.writer
      .commit()
      .then((c) => this.emit(c))
      .catch((err: unknown) => {
        this.commitError ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => (this.committing = undefined));
  }

  private emit(c: WriterCommit): void {
    if (c.offset === this.lastEmitted) return;
    this.lastEmitted = c.offset;
    this.req.onCheckpoint({
      version: 1,
      offset: c.offset,
      sink: c.state,
      hash: { algorithm: 'sha256', kind: 'reread-prefix' },
      source: this.req.source.identity(),
      totalBytes: this.req.source.sizeBytes,
    });
  }

  /** Stops the checkpoint timer and every read, and waits for them. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.reads.signal.aborted && this.inFlight.length > 0) this.reads.abort(new Error('the transfer stopped'));
    await Promise.allSettled(this.inFlight);
    this.inFlight = [];
    await this.committing;
  }

  /** After a failure: the durable point the next attempt resumes from. */
  async lastCheckpoint(): Promise<void> {
    try {
      this.emit(await this.req.writer.commit());
    } catch {
      // The writer failed: the previous checkpoint stands.
    }
  }
}

export type { Extent, ExtentSource } from '../core/extent-source.js';
