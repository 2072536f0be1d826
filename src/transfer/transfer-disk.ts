// The transfer engine: streams one disk from an HTTP(S) source into a DiskWriter,
// hashing as it goes, checkpointing durable progress, resuming with Range.
//
// Flow: recover the hash of the writer's durable prefix (saved hash-wasm state, or
// re-read the local prefix) → GET with `Range: bytes=<offset>-` when resuming →
// accept 206 only with a Content-Range that starts at our offset and a source
// identity (size/ETag/Last-Modified) equal to the checkpoint's; a 200 means the
// server ignored the range, so writer and hash are reset and the file starts over
// → a size known before the GET (expectedBytes) must equal the announced one and
// the bytes the body delivers, or the attempt fails with final SizeMismatch and
// the partial is removed → stream with backpressure → a timer commits the writer every
// `checkpointEveryMs` and reports the durable offset → flush, a last checkpoint,
// finish (atomic publish).
//
// Streaming (measured on 2 cores; see bench/transfer.ts): the body arrives as views
// of http-get.ts's reused read buffers and is copied into a few reusable 1 MiB batches;
// a full batch goes to the writer (one positional write) and, once the writer has
// released it, to the hash worker (core/hash-worker.ts), which hands the memory back.
// So the event loop only receives and copies; the write runs on libuv's pool and
// the SHA-256 on the worker, concurrently. The batches come from the writer when
// it offers them (local files: memory aligned for O_DIRECT, so a batch goes from
// here to the device without a page-cache copy). Memory per transfer: BATCH_SLOTS ×
// BATCH_BYTES plus the client's read buffers (256 KiB), whatever the disk size. When
// no batch is free the body is paused, which pauses the socket (backpressure).
import type { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../core/errors.js';
import type { DiskWriter, WriterCommit } from '../storage/sink.js';
import { headerValue, parseContentRange } from './content-range.js';
import { cancellation } from './cancellation.js';
import { classifyTransferError, failure, redactUrl } from './failures.js';
import { hashAcrossBoundaries, loadWasmSha256, NodeSha256, WasmSha256, type ResumableSha256 } from '../core/resumable-sha256.js';
import { WorkerSha256 } from '../core/hash-worker.js';
import { identityMismatch } from './source-identity.js';
import { httpGet, type HttpBody } from './http-get.js';
import type { HashCheckpoint, SourceIdentity, TransferCheckpoint, TransferRequest, TransferResult } from './types.js';

const DEFAULT_CHECKPOINT_MS = 2000;
const DEFAULT_TIMEOUT_MS = 60_000;
/**
 * Size of one batch handed to the writer (one write system call) and the hasher.
 * 1 MiB: system-call and message costs are already negligible at this size, and
 * 2 MiB batches put 4 disks in parallel at ~190 MB peak RSS (limit 200).
 */
const BATCH_BYTES = 1024 * 1024;
/** Batches per transfer: one filling, one being written, one queued, one hashing. */
const BATCH_SLOTS = 4;

/** Reusable batch buffers. Each owns its ArrayBuffer, so it can be transferred to the hash worker. */
class BatchPool {
  private readonly free: Buffer[] = [];
  private made = 0;
  /** Batches handed out and not given back yet (`reuse` false: the only bound on memory). */
  private out = 0;
  onFree: (() => void) | undefined;

  /**
   * `reuse` false: the writer never releases chunks, so every batch is new memory,
   * given back (forgotten) once the writer's write() of it resolved; still at most
   * BATCH_SLOTS at a time, so a writer slower than the network (a stream decoded
   * on the fly) pauses the socket instead of piling the stream up in memory.
   * `buffers`: batches the writer allocated (aligned for direct I/O), used first.
   */
  constructor(
    private readonly reuse: boolean,
    buffers: Buffer[] = [],
  ) {
    this.free.push(...buffers);
    this.made = buffers.length;
  }

  take(): Buffer | undefined {
    const b = this.free.pop();
    if (b) return b;
    if (this.reuse ? this.made >= BATCH_SLOTS : this.out >= BATCH_SLOTS) return undefined;
    this.made++;
    this.out++;
    return Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  give(b: Buffer): void {
    if (this.reuse) this.free.push(b);
    else this.out--;
    this.onFree?.();
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Sealed batches from the body's 'data' events to the writing loop. */
class BatchQueue {
  private readonly items: { buf: Buffer; len: number }[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  push(buf: Buffer, len: number): void {
    this.items.push({ buf, len });
    this.notify();
  }
  end(): void {
    this.ended = true;
    this.notify();
  }
  fail(err: unknown): void {
    this.error ??= asError(err);
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async next(): Promise<{ buf: Buffer; len: number } | undefined> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const item = this.items.shift();
      if (item) return item;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

function newHasher(writer: DiskWriter): Promise<ResumableSha256> {
  return writer.prefixHashing === 'saved-state' ? WasmSha256.create() : Promise.resolve(new NodeSha256());
}

/** Recovers the hash of [0, writer.resumeOffset); undefined when it cannot be recovered. */
async function recoverPrefixHash(req: TransferRequest): Promise<ResumableSha256 | undefined> {
  const { writer, checkpoint: cp } = req;
  if (writer.prefixHashing === 'saved-state') {
    // A state that does not load starts the disk over, as a missing one does.
    if (cp?.hash.kind !== 'hash-wasm-state' || cp.offset !== writer.resumeOffset) return undefined;
    return loadWasmSha256(cp.hash.state);
  }
  if (!writer.readPrefix) return undefined;
  const hasher = new NodeSha256();
  let read = 0;
  for await (const chunk of writer.readPrefix()) {
    if (req.signal.aborted) throw cancellation(req.signal);
    hasher.update(chunk);
    read += chunk.length;
  }
  return read === writer.resumeOffset ? hasher : undefined;
}

function identityOf(headers: Record<string, string | string[] | undefined>, sizeBytes: number | undefined): SourceIdentity {
  const id: SourceIdentity = {};
  if (sizeBytes !== undefined) id.sizeBytes = sizeBytes;
  const etag = headerValue(headers, 'etag');
  const lastModified = headerValue(headers, 'last-modified');
  if (etag) id.etag = etag;
  if (lastModified) id.lastModified = lastModified;
  return id;
}

/**
 * The source serves another size than it announced before the download: a retry
 * would get the same bytes, and publishing them would publish a disk of the wrong
 * size, so this is final (and the partial is removed).
 */
function sizeMismatch(where: string, expected: number, what: string): ApplicationFailure {
  return failure(ErrorType.SizeMismatch, `${where}: expected ${expected} bytes (size known before the download), but ${what}`, true);
}

/**
 * Answers to a download GET that no retry changes: the file is not there (404,
 * 410) or not ours to read (401, 403; the session was just used for the HEAD
 * before it). They fail the transfer as SourceRefused, a type every retry policy
 * lists as non-retryable, instead of TransferFailed retried for two days. Not the
 * ApplicationFailure's own nonRetryable flag: the partial and its checkpoint are
 * kept as for any failure, so that a device URL refused because its NFC lease was
 * lost still becomes LeaseLost (transfer activity) and resumes on a new lease;
 * the job's cleanup removes them otherwise. 408 and 429 say "try later": retried.
 */
const REFUSALS = new Map<number, string>([
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [410, 'Gone'],
]);

export async function transferDisk(req: TransferRequest): Promise<TransferResult> {
  if (req.signal.aborted) throw cancellation(req.signal);
  const expected = req.expectedBytes;
  if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0)) {
    throw failure(ErrorType.InvalidInput, `expectedBytes ${expected} is not a byte count`, true);
  }
  const { writer, source } = req;
  const cp = req.checkpoint?.offset ? req.checkpoint : undefined;
  const state = new TransferState(req);
  try {
    return await state.run(cp);
  } catch (err) {
    await state.stopCheckpointing();
    if (req.signal.aborted) {
      await state.lastCheckpoint();
      await writer.close().catch(() => undefined);
      throw cancellation(req.signal);
    }
    const f = classifyTransferError(err, source.url);
    if (f.nonRetryable) {
      // Nothing will resume this partial: clean up remote/local state before rethrowing.
      await writer.abort().catch(() => undefined);
    } else {
      if (f.type !== ErrorType.SinkFull && f.type !== ErrorType.SinkError) await state.lastCheckpoint();
      await writer.close().catch(() => undefined);
    }
    throw f;
  } finally {
    state.dispose();
  }
}

/** One attempt's mutable state; `run` is the happy path, the rest serves checkpoints. */
class TransferState {
  /** Event-loop hasher (S3's saveable state, a resumed prefix, or hashOnWorker false)... */
  private hasher: ResumableSha256 | undefined;
  /** ...or the worker thread's, for a fresh attempt into a writer that releases chunks. */
  private workerHasher: WorkerSha256 | undefined;
  /** Worker hashing: batches are posted in stream order along this chain. */
  private hashOrder: Promise<void> = Promise.resolve();
  private pipeError: Error | undefined;
  private position = 0;
  private bytesReceived = 0;
  private identity: SourceIdentity = {};
  private totalBytes: number | undefined;
  /** Hash states at the writer's commit granularity boundaries (saved-state writers only). */
  private readonly snapshots = new Map<number, HashCheckpoint>();
  private timer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private commitError: Error | undefined;
  private lastEmitted = -1;
  private streaming = false;

  constructor(private readonly req: TransferRequest) {}

  private get writer(): DiskWriter {
    return this.req.writer;
  }

  private get granularity(): number {
    return this.writer.prefixHashing === 'saved-state' ? this.writer.commitGranularity : 0;
  }

  async run(cp: TransferCheckpoint | undefined): Promise<TransferResult> {
    const { writer, source, signal } = this.req;
    let restartedFromZero = false;
    let start = 0;
    const recovered = cp && writer.resumeOffset > 0 && !writer.hashesOutput ? await recoverPrefixHash(this.req) : undefined;
    if (writer.hashesOutput) {
      // The writer hashes its own output and resumes from its own state.
      start = writer.resumeOffset;
      restartedFromZero = cp !== undefined && start === 0;
    } else if (recovered) {
      this.hasher = recovered;
      start = writer.resumeOffset;
    } else {
      if (writer.resumeOffset > 0) await writer.reset();
      await this.freshHasher();
      restartedFromZero = cp !== undefined;
    }

    const headers: Record<string, string> = { ...source.headers };
    if (start > 0) headers.range = `bytes=${start}-`;
    const res = await httpGet({
      url: source.url,
      headers,
      signal,
      insecure: this.req.tls?.insecure,
      sslThumbprint: source.sslThumbprint,
      headersTimeoutMs: this.req.headersTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      bodyTimeoutMs: this.req.stallTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    const where = redactUrl(source.url);
    const contentLength = headerValue(res.headers, 'content-length');
    const expected = this.req.expectedBytes;

    if (res.statusCode === 206 && start > 0) {
      const cr = parseContentRange(headerValue(res.headers, 'content-range'));
      if (cr?.start !== start || cr.total === undefined || cr.end !== cr.total - 1) {
        res.body.destroy();
        throw failure(ErrorType.TransferFailed, `${where}: 206 with Content-Range ${headerValue(res.headers, 'content-range')} does not continue at ${start}`);
      }
      if (expected !== undefined && cr.total !== expected) {
        res.body.destroy();
        throw sizeMismatch(where, expected, `the 206's Content-Range says ${cr.total}`);
      }
      this.identity = identityOf(res.headers, cr.total);
      const changed = cp ? identityMismatch(cp.source, this.identity) : undefined;
      if (changed) {
        res.body.destroy();
        await this.startOver();
        throw failure(ErrorType.SourceChanged, `${where} changed since the last attempt (${changed}); starting over`);
      }
      this.totalBytes = cr.total;
    } else if (res.statusCode === 416 && start > 0) {
      res.body.destroy();
      const cr = parseContentRange(headerValue(res.headers, 'content-range'));
      if (expected !== undefined && cr?.total !== undefined && cr.total !== expected) {
        throw sizeMismatch(where, expected, `the 416's Content-Range says ${cr.total}`);
      }
      const sameSource = cp ? identityMismatch(cp.source, identityOf(res.headers, cr?.total)) === undefined : false;
      if (cr?.total !== start || !sameSource) {
        await this.startOver();
        throw failure(ErrorType.RangeNotSatisfiable, `${where}: range from ${start} not satisfiable (size ${cr?.total ?? 'unknown'}); starting over`);
      }
      // Everything was already transferred by the previous attempt: just publish.
      this.identity = cp?.source ?? {};
      this.totalBytes = start;
      res.body.destroy();
    } else if (res.statusCode === 200) {
      if (expected !== undefined && contentLength !== undefined && Number(contentLength) !== expected) {
        res.body.destroy();
        throw sizeMismatch(where, expected, `the 200's Content-Length says ${contentLength}`);
      }
      if (start > 0) {
        // The server ignored Range: what it sends starts at byte 0.
        await writer.reset();
        await this.freshHasher();
        start = 0;
        restartedFromZero = true;
      }
      this.totalBytes = contentLength !== undefined ? Number(contentLength) : undefined;
      this.identity = identityOf(res.headers, this.totalBytes);
    } else {
      res.body.destroy();
      const refused = REFUSALS.get(res.statusCode);
      if (refused) {
        throw failure(
          ErrorType.SourceRefused,
          `${where}: HTTP ${res.statusCode} ${refused}: the source will not serve this file; not retried, a retry would get the same answer`,
        );
      }
      throw failure(ErrorType.TransferFailed, `${where}: HTTP ${res.statusCode}`);
    }

    this.position = start;
    if (res.statusCode !== 416) await this.stream(res.body);
    await this.stopCheckpointing();
    if (this.commitError !== undefined) throw this.commitError;
    if (this.granularity) this.snapshots.set(this.position, this.mainHasher().checkpoint());
    await writer.flush();
    await this.emit(await writer.commit());
    const sha256 = writer.hashesOutput ? undefined : await this.digestHex();
    const file = await writer.finish();
    if (writer.hashesOutput && !file.sha256) throw new Error(`${writer.name}: the writer hashes its output but reported no SHA-256`);
    return {
      bytes: writer.hashesOutput ? file.sizeBytes : this.position,
      sha256: sha256 ?? file.sha256!,
      resumedFromOffset: start,
      restartedFromZero,
      bytesReceived: this.bytesReceived,
      file,
    };
  }

  private async freshHasher(): Promise<void> {
    this.workerHasher?.close();
    this.workerHasher = undefined;
    this.hasher = undefined;
    const w = this.writer;
    if (w.hashesOutput) return;
    if (this.req.hashOnWorker !== false && w.prefixHashing === 'reread' && w.releasesChunks === true) {
      this.workerHasher = new WorkerSha256();
    } else {
      this.hasher = await newHasher(w);
    }
  }

  private mainHasher(): ResumableSha256 {
    if (!this.hasher) throw new Error('no event-loop hasher');
    return this.hasher;
  }

  private hashCheckpoint(): HashCheckpoint {
    if (this.writer.hashesOutput) return { algorithm: 'sha256', kind: 'reread-prefix' };
    return this.workerHasher ? { algorithm: 'sha256', kind: 'reread-prefix' } : this.mainHasher().checkpoint();
  }

  private async digestHex(): Promise<string> {
    if (!this.workerHasher) return this.mainHasher().digestHex();
    await this.hashOrder;
    if (this.pipeError !== undefined) throw this.pipeError;
    return this.workerHasher.digestHex();
  }

  dispose(): void {
    this.workerHasher?.close();
  }

  private async stream(body: HttpBody): Promise<void> {
    const g = this.granularity;
    if (g) this.snapshots.set(this.position, this.mainHasher().checkpoint());
    const where = redactUrl(this.req.source.url);
    const reuse = this.writer.releasesChunks === true;
    const buffers = reuse && this.writer.allocateBuffers ? await this.writer.allocateBuffers(BATCH_SLOTS, BATCH_BYTES) : [];
    const pool = new BatchPool(reuse, buffers);
    const queue = new BatchQueue();
    const announcedRest = this.totalBytes !== undefined ? this.totalBytes - this.position : undefined;
    // A body without a length (chunked, close-delimited) is held to the size known
    // in advance as it arrives: a source running past it fails at once.
    const expected = this.req.expectedBytes;
    const from = this.position;
    let received = 0;
    let slot: Buffer | undefined;
    let fill = 0;
    // The body view not yet copied while no batch was free; the client keeps it valid while paused.
    let stash: { chunk: Buffer; at: number } | undefined;

    /** Copies chunk[at..] into batches; false when out of batches (the rest is stashed). */
    const take = (chunk: Buffer, at: number): boolean => {
      while (at < chunk.length) {
        slot ??= pool.take();
        if (!slot) {
          stash = { chunk, at };
          return false;
        }
        const n = chunk.copy(slot, fill, at, Math.min(chunk.length, at + slot.length - fill));
        fill += n;
        at += n;
        if (fill === slot.length) {
          queue.push(slot, fill);
          slot = undefined;
          fill = 0;
        }
      }
      return true;
    };
    const data = (chunk: Buffer): boolean => {
      this.bytesReceived += chunk.length;
      received += chunk.length;
      if (expected !== undefined && from + received > expected) {
        queue.fail(sizeMismatch(where, expected, `the server sent at least ${from + received} bytes`));
        body.destroy();
        return false;
      }
      if (announcedRest !== undefined && received > announcedRest) {
        queue.fail(failure(ErrorType.TransferFailed, `${where} sent more than the announced ${this.totalBytes} bytes`));
        body.destroy();
        return false;
      }
      return take(chunk, 0);
    };
    pool.onFree = () => {
      if (!stash) return;
      const s = stash;
      stash = undefined;
      if (take(s.chunk, s.at)) body.resume();
    };

    this.streaming = true;
    this.timer = setInterval(() => this.tick(), this.req.checkpointEveryMs ?? DEFAULT_CHECKPOINT_MS);
    // The body ends only once every view was taken (a paused client does not finish).
    const reading = body.read({ data }).then(
      () => {
        if (slot && fill > 0) queue.push(slot, fill);
        slot = undefined;
        queue.end();
      },
      (err: unknown) => queue.fail(err),
    );
    try {
      for (let b = await queue.next(); b; b = await queue.next()) {
        if (this.commitError !== undefined) throw this.commitError;
        if (this.pipeError !== undefined) throw this.pipeError;
        await this.consume(pool, queue, b.buf, b.len, g);
      }
    } finally {
      pool.onFree = undefined;
      body.destroy();
      await reading;
    }
    // Whatever the framing: a close-delimited body that ends early is
    // indistinguishable from a complete one, and the size known in advance is
    // the only evidence left that it is not.
    if (expected !== undefined && this.position !== expected) {
      throw sizeMismatch(where, expected, `the body ended after ${this.position} bytes`);
    }
    if (this.totalBytes !== undefined && this.position !== this.totalBytes) {
      throw failure(ErrorType.TransferFailed, `${where} ended at ${this.position} of ${this.totalBytes} bytes`);
    }
  }

  /** Hashes (event loop) or queues for the worker, and writes one batch. */
  private async consume(pool: BatchPool, queue: BatchQueue, buf: Buffer, len: number, g: number): Promise<void> {
    const view = len === buf.length ? buf : buf.subarray(0, len);
    const worker = this.workerHasher;
    if (!worker) {
      if (this.writer.hashesOutput) {
        // The writer hashes what it writes.
      } else if (g) this.hashWithSnapshots(view, g);
      else this.mainHasher().update(view);
      // A writer that releases chunks gives the batch back itself; for any other,
      // the batch is done with once write() resolved.
      if (this.writer.releasesChunks === true) await this.writer.write(view, () => pool.give(buf));
      else {
        await this.writer.write(view);
        pool.give(buf);
      }
    } else {
      // The worker takes the memory away (transfer), so it may only see the batch
      // once the writer released it; batches are posted in stream order.
      let released!: () => void;
      const releasedP = new Promise<void>((resolve) => (released = resolve));
      this.hashOrder = this.hashOrder
        .then(() => releasedP)
        .then(() => {
          if (this.pipeError !== undefined) return;
          worker.update(buf, len).then(
            (back) => pool.give(back),
            (err: unknown) => {
              this.pipeError ??= asError(err);
              queue.fail(err); // wakes the loop, which may be waiting for a batch that will never be freed
            },
          );
        });
      await this.writer.write(view, released);
    }
    this.position += len;
  }

  /** Hashes a chunk, saving the hash state at each multiple of `g` it crosses. */
  private hashWithSnapshots(chunk: Buffer, g: number): void {
    const hasher = this.mainHasher();
    hashAcrossBoundaries(hasher, chunk, this.position, g, (at) => this.snapshots.set(at, hasher.checkpoint()));
  }

  private tick(): void {
    if (this.committing || !this.streaming) return;
    this.committing = this.writer
      .commit()
      .then((c) => this.emit(c))
      .catch((err: unknown) => {
        this.commitError ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => {
        this.committing = undefined;
      });
  }

  async stopCheckpointing(): Promise<void> {
    this.streaming = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.committing) await this.committing;
  }

  /** On interruption: make what is already written durable and report it, so a retry re-sends less. */
  async lastCheckpoint(): Promise<void> {
    if (this.position === 0) return;
    try {
      await this.emit(await this.writer.commit());
    } catch {
      // best effort: the previous checkpoint still stands
    }
  }

  private emit(c: WriterCommit): Promise<void> {
    if (c.offset < this.lastEmitted) return Promise.resolve();
    const hash = this.granularity ? this.snapshots.get(c.offset) : this.hashCheckpoint();
    if (!hash) return Promise.resolve();
    for (const k of this.snapshots.keys()) if (k < c.offset) this.snapshots.delete(k);
    this.lastEmitted = c.offset;
    const cp: TransferCheckpoint = { version: 1, offset: c.offset, sink: c.state, hash, source: this.identity };
    if (this.totalBytes !== undefined) cp.totalBytes = this.totalBytes;
    this.req.onCheckpoint(cp);
    return Promise.resolve();
  }

  /** Drops the partial and reports an offset-0 checkpoint, so the next attempt starts clean. */
  private async startOver(): Promise<void> {
    await this.writer.reset();
    const c = await this.writer.commit();
    const hash = this.writer.hashesOutput ? this.hashCheckpoint() : (await newHasher(this.writer)).checkpoint();
    this.req.onCheckpoint({ version: 1, offset: 0, sink: c.state, hash, source: {} });
  }
}
