// A resumable local file writer. Bytes go to ".<name>.partial" with positional
// writes; finish() fsyncs, renames atomically to the final name and fsyncs the
// directory, so a file under its final name is always complete.
//
// Checkpoints: commit() reports the bytes the kernel has accepted, which survive
// a killed worker (they are in the page cache), and fdatasyncs at most every
// SYNC_EVERY_MS, recording that durable offset and the machine's boot id beside
// it. A resume on the same boot continues from the reported offset; after a
// reboot, or on another machine, from the durable one. fdatasync every couple of
// seconds halved throughput (writeback stalls the writes behind it); this keeps
// the re-sent bytes after a worker crash at one heartbeat's worth.
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
import { constants, createReadStream, readFileSync } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { alignedBuffers, DIRECT_ALIGN, isEinval, openDirect } from './direct-io.js';
import type { DiskWriter, FinishedFile, OpenDiskWriterOptions, WriterCommit } from './sink.js';
import { sinkFailure } from './sink-errors.js';

const BATCH_BYTES = 1024 * 1024;
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

export interface LocalWriterPaths {
  name: string;
  finalPath: string;
  partialPath: string;
  parentDir: string;
}

/** Opens the partial file; tests substitute a real device (/dev/full) here. */
export type PartialOpener = (path: string) => Promise<FileHandle>;

const openPartialNoFollow: PartialOpener = (path) =>
  open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);

export async function fsyncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** `openPartial` substitutes the file (tests: /dev/full); a substitute is written buffered only. */
export async function openLocalDiskWriter(paths: LocalWriterPaths, options: OpenDiskWriterOptions, openPartial?: PartialOpener): Promise<DiskWriter> {
  let fh: FileHandle;
  try {
    fh = await (openPartial ?? openPartialNoFollow)(paths.partialPath);
  } catch (err) {
    throw sinkFailure(err, `opening ${paths.partialPath}`);
  }
  let direct: FileHandle | undefined;
  try {
    const st = await fh.stat();
    direct = openPartial || !st.isFile() ? undefined : await openDirect(paths.partialPath);
    const { offset: wanted, durable } = resumableOffset(options.checkpoint);
    // The partial may be longer than the checkpoint (writes after it); those bytes
    // were never reported durable, so cut them. Shorter means the checkpoint's data
    // is gone (file replaced?): start over. With direct writes the resume point is
    // rounded down to an aligned offset (re-sending < 4 KiB), so that every later
    // batch lands aligned too.
    const align = direct ? DIRECT_ALIGN : 1;
    const resumeOffset = st.isFile() && wanted > 0 && st.size >= wanted ? wanted - (wanted % align) : 0;
    if (st.isFile()) await fh.truncate(resumeOffset);
    return new LocalDiskWriter(paths, fh, direct, resumeOffset, Math.min(durable, resumeOffset));
  } catch (err) {
    await direct?.close().catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw sinkFailure(err, `preparing ${paths.partialPath}`);
  }
}

function releaseAll(releases: (() => void)[]): void {
  for (const r of releases) r();
}

class LocalDiskWriter implements DiskWriter {
  readonly prefixHashing = 'reread' as const;
  readonly commitGranularity = 1;
  readonly releasesChunks = true;
  readonly name: string;
  /** Bytes handed to write(). */
  private written: number;
  /** Bytes whose write() system call completed (may not be durable yet). */
  private flushed: number;
  private batch: Buffer[] = [];
  private batchReleases: (() => void)[] = [];
  private batchBytes = 0;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private lastSyncAt = Date.now();

  constructor(
    private readonly paths: LocalWriterPaths,
    private readonly fh: FileHandle,
    /** O_DIRECT handle on the same file, where the file system has direct I/O. */
    private readonly direct: FileHandle | undefined,
    readonly resumeOffset: number,
    /** Bytes known fdatasync'ed. */
    private durable: number,
  ) {
    this.name = paths.name;
    this.written = resumeOffset;
    this.flushed = resumeOffset;
  }

  async write(chunk: Buffer, release?: () => void): Promise<void> {
    if (this.closed) {
      release?.();
      throw sinkFailure(new Error('writer closed'), `writing ${this.paths.partialPath}`);
    }
    this.batch.push(chunk);
    if (release) this.batchReleases.push(release);
    this.batchBytes += chunk.length;
    this.written += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) await this.startBatch();
  }

  /** Waits for the previous batch, then starts writing the current one (not awaited). */
  private async startBatch(): Promise<void> {
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

  /**
   * Buffers for write(): with direct I/O, memory the device accepts, so the
   * engine's batches bypass the page cache. Call before writing (it probes at the
   * end of the data and cuts the probe off again); `bytes` a multiple of 4096.
   */
  async allocateBuffers(count: number, bytes: number): Promise<Buffer[]> {
    if (!this.direct || bytes % DIRECT_ALIGN !== 0) return Array.from({ length: count }, () => Buffer.allocUnsafeSlow(bytes));
    await this.startBatch();
    if (this.inFlight) await this.inFlight;
    const end = this.written;
    const probeAt = Math.ceil(end / DIRECT_ALIGN) * DIRECT_ALIGN;
    try {
      const buffers = await alignedBuffers(this.direct, probeAt, count, bytes);
      await this.fh.truncate(end);
      return buffers;
    } catch (err) {
      throw sinkFailure(err, `preparing ${this.paths.partialPath}`);
    }
  }

  /** One aligned chunk at an aligned offset: written with O_DIRECT. False when the memory is not aligned (nothing written). */
  private async writeDirect(chunk: Buffer, position: number): Promise<boolean> {
    if (!this.direct || chunk.length % DIRECT_ALIGN !== 0 || position % DIRECT_ALIGN !== 0) return false;
    let written: number;
    try {
      written = (await this.direct.write(chunk, 0, chunk.length, position)).bytesWritten;
    } catch (err) {
      if (isEinval(err)) return false;
      throw sinkFailure(err, `writing ${this.paths.partialPath}`);
    }
    // A short direct write (rare): the rest goes through the page cache.
    if (written < chunk.length) await this.writeAll([chunk.subarray(written)], chunk.length - written, position + written);
    return true;
  }

  private async writeBatch(chunks: Buffer[], bytes: number, position: number): Promise<void> {
    const [only] = chunks;
    if (chunks.length === 1 && only && (await this.writeDirect(only, position))) return;
    await this.writeAll(chunks, bytes, position);
  }

  private async writeAll(chunks: Buffer[], bytes: number, position: number): Promise<void> {
    try {
      let done = 0;
      let rest = chunks;
      while (done < bytes) {
        const { bytesWritten } = await this.fh.writev(rest, position + done);
        if (bytesWritten <= 0) throw new Error('writev wrote nothing');
        done += bytesWritten;
        if (done < bytes) rest = [Buffer.concat(chunks).subarray(done)];
      }
    } catch (err) {
      throw sinkFailure(err, `writing ${this.paths.partialPath}`);
    }
  }

  async commit(force = false): Promise<WriterCommit> {
    // Only bytes whose write completed before the sync started are covered by it.
    if (this.inFlight) await this.inFlight;
    const offset = this.flushed;
    if (force || currentBootId === undefined || Date.now() - this.lastSyncAt >= SYNC_EVERY_MS) {
      try {
        await this.fh.datasync();
      } catch (err) {
        throw sinkFailure(err, `syncing ${this.paths.partialPath}`);
      }
      this.durable = offset;
      this.lastSyncAt = Date.now();
    }
    return {
      offset,
      state: currentBootId === undefined ? { kind: 'local' } : { kind: 'local', bootId: currentBootId, durableOffset: this.durable },
    };
  }

  async flush(): Promise<void> {
    await this.startBatch();
    if (this.inFlight) await this.inFlight;
    await this.commit(true);
  }

  async reset(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => undefined);
    this.dropBatch();
    this.written = 0;
    this.flushed = 0;
    try {
      if ((await this.fh.stat()).isFile()) await this.fh.truncate(0);
    } catch (err) {
      throw sinkFailure(err, `truncating ${this.paths.partialPath}`);
    }
  }

  async *readPrefix(): AsyncIterable<Buffer> {
    if (this.resumeOffset === 0) return;
    const stream = createReadStream(this.paths.partialPath, {
      start: 0,
      end: this.resumeOffset - 1,
      highWaterMark: 4 * 1024 * 1024,
    });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  async finish(): Promise<FinishedFile> {
    await this.flush();
    try {
      await this.fh.sync();
      await this.closeHandle();
      await rename(this.paths.partialPath, this.paths.finalPath);
      await fsyncDirectory(this.paths.parentDir);
      const { size } = await stat(this.paths.finalPath);
      return { name: this.paths.name, uri: this.paths.finalPath, sizeBytes: size };
    } catch (err) {
      throw sinkFailure(err, `publishing ${this.paths.finalPath}`);
    }
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

  async abort(): Promise<void> {
    await this.close();
    await unlink(this.paths.partialPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw sinkFailure(err, `removing ${this.paths.partialPath}`);
    });
  }

  private async closeHandle(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.direct?.close().catch(() => undefined);
    await this.fh.close();
  }
}
