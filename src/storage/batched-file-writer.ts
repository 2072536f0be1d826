// The write path shared by the local file writer (local-disk-writer.ts) and the
// OVA region writer (ova-region-writer.ts): both stream one disk into a byte range
// of a local file, starting at file offset `base`.
//
// Throughput: chunks are coalesced into batches of ~1 MiB written with one writev
// (the engine hands over batches of 1 MiB already, so usually one chunk = one
// write), with one batch in flight while the next fills, so the network side
// rarely waits for the disk. A batch that is one aligned chunk at an aligned
// offset — the engine's batches, in buffers from allocateBuffers() — is written
// with O_DIRECT, bypassing the page cache (see direct-io.ts for why and how); the
// rest (a tail, other callers' buffers, tmpfs) is buffered. Chunks are released to
// the caller as soon as their write completed (or was dropped), so the caller can
// reuse its buffers. Memory: at most two batches per writer, the caller's buffers.
//
// Sparseness: a batch whose bytes are all zero is not written at all, so the file
// keeps a hole there and a thin 128 GiB disk takes the space of its data. This is
// only right where the bytes under the batch already read as zero: each subclass
// says so in mayLeaveZero() (a truncated local partial: always; a region of a
// shared file: see ova-region-writer.ts). The check is one memcmp against a static
// zero MiB, which stops at the first non-zero byte, so data costs nothing and a
// zero MiB ~10 µs (tens of GB/s, measured), far below the SHA-256 of the same MiB.
//
// Checkpoints: commit() reports the bytes the kernel has accepted, which survive
// a killed worker (they are in the page cache), and fdatasyncs at most every
// SYNC_EVERY_MS, recording that durable offset and the machine's boot id beside
// it. A resume on the same boot continues from the reported offset; after a
// reboot, or on another machine, from the durable one. fdatasync every couple of
// seconds halved throughput (writeback stalls the writes behind it); this keeps
// the re-sent bytes after a worker crash at one heartbeat's worth.
import { createReadStream, readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { DIRECT_ALIGN, isEinval } from './direct-io.js';
import type { DiskWriter, FinishedFile, OpenDiskWriterOptions, WriterCommit } from './sink.js';
import { sinkFailure } from './sink-errors.js';

export const BATCH_BYTES = 1024 * 1024;
/** How often commit() makes the written bytes durable with fdatasync. */
export const SYNC_EVERY_MS = 30_000;

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined; // not Linux: every commit syncs
  }
}
/** This machine's current boot; exported for tests. */
export const currentBootId = readBootId();

/** Where a checkpoint lets a local partial resume on this machine, now. */
export function resumableOffset(checkpoint: OpenDiskWriterOptions['checkpoint']): { offset: number; durable: number } {
  if (!checkpoint || checkpoint.sink.kind !== 'local') return { offset: 0, durable: 0 };
  const { bootId, durableOffset } = checkpoint.sink;
  // Checkpoints without a boot id were synced at every commit.
  if (bootId === undefined || durableOffset === undefined) return { offset: checkpoint.offset, durable: checkpoint.offset };
  if (bootId === currentBootId) return { offset: checkpoint.offset, durable: durableOffset };
  return { offset: durableOffset, durable: durableOffset };
}

/** Compared against, never written: a zero MiB shared by every writer. */
const ZEROS = Buffer.alloc(BATCH_BYTES);

/** True when every byte of `buf` is zero (memcmp against ZEROS, which stops at the first difference). */
export function isAllZero(buf: Buffer): boolean {
  for (let at = 0; at < buf.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - at);
    const part = at === 0 && n === buf.length ? buf : buf.subarray(at, at + n);
    if (!part.equals(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))) return false;
  }
  return true;
}

function releaseAll(releases: (() => void)[]): void {
  for (const r of releases) r();
}

export interface BatchedFileWriterInit {
  name: string;
  /** The file, for messages and for readPrefix. */
  path: string;
  fh: FileHandle;
  /** O_DIRECT handle on the same file, where the file system has direct I/O. */
  direct: FileHandle | undefined;
  /** File offset of the writer's byte 0. */
  base: number;
  resumeOffset: number;
  /** Bytes known fdatasync'ed. */
  durable: number;
  /** Whether all-zero batches may be left as holes (never for devices and pipes). */
  sparse: boolean;
}

export abstract class BatchedFileWriter implements DiskWriter {
  readonly prefixHashing = 'reread' as const;
  readonly commitGranularity = 1;
  readonly releasesChunks = true;
  readonly name: string;
  readonly resumeOffset: number;
  protected readonly path: string;
  protected readonly fh: FileHandle;
  protected readonly direct: FileHandle | undefined;
  protected readonly base: number;
  protected readonly sparse: boolean;
  /** Bytes handed to write(). */
  protected written: number;
  /** Bytes whose write() system call completed or was skipped as zeros (may not be durable yet). */
  protected flushed: number;
  /** Bytes known fdatasync'ed. */
  protected durable: number;
  private batch: Buffer[] = [];
  private batchReleases: (() => void)[] = [];
  private batchBytes = 0;
  protected inFlight: Promise<void> | undefined;
  private closed = false;
  private lastSyncAt = Date.now();

  constructor(init: BatchedFileWriterInit) {
    this.name = init.name;
    this.path = init.path;
    this.fh = init.fh;
    this.direct = init.direct;
    this.base = init.base;
    this.sparse = init.sparse;
    this.resumeOffset = init.resumeOffset;
    this.written = init.resumeOffset;
    this.flushed = init.resumeOffset;
    this.durable = init.durable;
  }

  /**
   * Called for an all-zero batch at [position, position + bytes) (writer
   * offsets): true when those bytes of the file already read as zero, so the
   * write can be skipped; false writes the zeros.
   */
  protected abstract mayLeaveZero(position: number, bytes: number): Promise<boolean>;
  /** Runs before a batch is really written at [position, position + bytes); serialised with the batches. */
  protected beforeWrite(_position: number, _bytes: number): Promise<void> {
    return Promise.resolve();
  }
  /** Runs before commit() syncs and reports `offset` (may run while a later batch is being written). */
  protected beforeSync(_offset: number): Promise<void> {
    return Promise.resolve();
  }
  /** Runs after a batch's bytes were really written. */
  protected afterWrite(_end: number): void {}

  abstract allocateBuffers(count: number, bytes: number): Promise<Buffer[]>;
  abstract reset(): Promise<void>;
  abstract finish(): Promise<FinishedFile>;
  abstract abort(): Promise<void>;

  async write(chunk: Buffer, release?: () => void): Promise<void> {
    if (this.closed) {
      release?.();
      throw sinkFailure(new Error('writer closed'), `writing ${this.path}`);
    }
    this.batch.push(chunk);
    if (release) this.batchReleases.push(release);
    this.batchBytes += chunk.length;
    this.written += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) await this.startBatch();
  }

  /** Waits for the previous batch, then starts writing the current one (not awaited). */
  protected async startBatch(): Promise<void> {
    if (this.inFlight) await this.inFlight;
    if (this.batchBytes === 0) return;
    const chunks = this.batch;
    const bytes = this.batchBytes;
    const releases = this.batchReleases;
    const position = this.flushed;
    this.batch = [];
    this.batchReleases = [];
    this.batchBytes = 0;
    const p = this.writeBatch(chunks, bytes, position)
      .then(() => {
        this.flushed = position + bytes;
      })
      .finally(() => releaseAll(releases));
    this.inFlight = p;
    // Surface the error on the next await of inFlight, never as an unhandled rejection.
    p.catch(() => undefined);
  }

  private async writeBatch(chunks: Buffer[], bytes: number, position: number): Promise<void> {
    if (this.sparse && chunks.every(isAllZero) && (await this.mayLeaveZero(position, bytes))) return;
    await this.beforeWrite(position, bytes);
    const [only] = chunks;
    if (!(chunks.length === 1 && only && (await this.writeDirect(only, position)))) await this.writeAll(chunks, bytes, position);
    this.afterWrite(position + bytes);
  }

  /** One aligned chunk at an aligned offset: written with O_DIRECT. False when the memory is not aligned (nothing written). */
  private async writeDirect(chunk: Buffer, position: number): Promise<boolean> {
    const at = this.base + position;
    if (!this.direct || chunk.length % DIRECT_ALIGN !== 0 || at % DIRECT_ALIGN !== 0) return false;
    let written: number;
    try {
      written = (await this.direct.write(chunk, 0, chunk.length, at)).bytesWritten;
    } catch (err) {
      if (isEinval(err)) return false;
      throw sinkFailure(err, `writing ${this.path}`);
    }
    // A short direct write (rare): the rest goes through the page cache.
    if (written < chunk.length) await this.writeAll([chunk.subarray(written)], chunk.length - written, position + written);
    return true;
  }

  private async writeAll(chunks: Buffer[], bytes: number, position: number): Promise<void> {
    try {
      let done = 0;
      let rest = chunks;
      while (done < bytes) {
        const { bytesWritten } = await this.fh.writev(rest, this.base + position + done);
        if (bytesWritten <= 0) throw new Error('writev wrote nothing');
        done += bytesWritten;
        if (done < bytes) rest = [Buffer.concat(chunks).subarray(done)];
      }
    } catch (err) {
      throw sinkFailure(err, `writing ${this.path}`);
    }
  }

  async commit(force = false): Promise<WriterCommit> {
    // Only bytes whose write completed before the sync started are covered by it.
    if (this.inFlight) await this.inFlight;
    const offset = this.flushed;
    await this.beforeSync(offset);
    if (force || currentBootId === undefined || Date.now() - this.lastSyncAt >= SYNC_EVERY_MS) {
      try {
        await this.fh.datasync();
      } catch (err) {
        throw sinkFailure(err, `syncing ${this.path}`);
      }
      this.durable = offset;
      this.lastSyncAt = Date.now();
    }
    return {
      offset,
      state: currentBootId === undefined ? { kind: 'local' } : { kind: 'local', bootId: currentBootId, durableOffset: this.durable },
    };
  }

  /** Writes out the batch being filled and waits for every write. */
  protected async drain(): Promise<void> {
    await this.startBatch();
    if (this.inFlight) await this.inFlight;
  }

  async flush(): Promise<void> {
    await this.drain();
    await this.commit(true);
  }

  /** Waits for the write in flight (ignoring its failure) and forgets the batch: the next write lands at 0. */
  protected async rewind(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => undefined);
    this.dropBatch();
    this.written = 0;
    this.flushed = 0;
  }

  async *readPrefix(): AsyncIterable<Buffer> {
    if (this.resumeOffset === 0) return;
    const stream = createReadStream(this.path, {
      start: this.base,
      end: this.base + this.resumeOffset - 1,
      highWaterMark: 4 * 1024 * 1024,
    });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  async close(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => undefined);
    this.dropBatch();
    await this.closeHandle();
  }

  /** Forgets the bytes not yet handed to the kernel, releasing their chunks. */
  private dropBatch(): void {
    const releases = this.batchReleases;
    this.batch = [];
    this.batchReleases = [];
    this.batchBytes = 0;
    releaseAll(releases);
  }

  protected async closeHandle(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.direct?.close().catch(() => undefined);
    await this.fh.close();
  }
}
