// A resumable local file writer. Bytes go to ".<name>.partial" with positional
// writes; finish() fsyncs, renames atomically to the final name and fsyncs the
// directory, so a file under its final name is always complete. Batching, direct
// I/O, checkpoints and boot ids: see batched-file-writer.ts.
//
// Holes: all-zero batches are skipped, which is safe because every byte at or past
// the write position reads as zero — the partial is truncated to the resume offset
// when opened and to 0 by reset(), and writes only ever land at the write
// position. A skipped run at the end leaves the file shorter than the bytes
// reported, so commit() first makes the file cover the offset it reports (a resume
// checks that the partial holds the checkpoint's bytes) and flush() extends it to
// its full length with ftruncate.
import { constants } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { BatchedFileWriter, currentBootId, resumableOffset, SYNC_EVERY_MS, type BatchedFileWriterInit } from './batched-file-writer.js';
import { alignedBuffers, DIRECT_ALIGN, openDirect } from './direct-io.js';
import { openOwnedOrCreate, sameFile } from './output-directory.js';
import type { DiskWriter, FinishedFile, OpenDiskWriterOptions } from './sink.js';
import { sinkFailure } from './sink-errors.js';

export { currentBootId, resumableOffset, SYNC_EVERY_MS };

export interface LocalWriterPaths {
  name: string;
  finalPath: string;
  partialPath: string;
  parentDir: string;
  /** What finish() reports as the file's location (default finalPath, which may name it through a descriptor). */
  uri?: string;
}

/** Opens the partial file; tests substitute a real device (/dev/full) here. */
export type PartialOpener = (path: string) => Promise<FileHandle>;

/** Created exclusively (0640), or reopened when it is our own partial (a resume); anything else there is refused. */
const openPartialNoFollow: PartialOpener = async (path) => (await openOwnedOrCreate(path, constants.O_RDWR)).fh;

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
    // The second open went by name again: it must have reached the file checked above.
    if (direct && !(await sameFile(fh, direct))) {
      await direct.close();
      direct = undefined;
    }
    const { offset: wanted, durable } = resumableOffset(options.checkpoint);
    // The partial may be longer than the checkpoint (writes after it); those bytes
    // were never reported durable, so cut them. Shorter means the checkpoint's data
    // is gone (file replaced?): start over. With direct writes the resume point is
    // rounded down to an aligned offset (re-sending < 4 KiB), so that every later
    // batch lands aligned too.
    const align = direct ? DIRECT_ALIGN : 1;
    const resumeOffset = st.isFile() && wanted > 0 && st.size >= wanted ? wanted - (wanted % align) : 0;
    if (st.isFile()) await fh.truncate(resumeOffset);
    return new LocalDiskWriter(paths, {
      name: paths.name,
      path: paths.partialPath,
      fh,
      direct,
      base: 0,
      resumeOffset,
      durable: Math.min(durable, resumeOffset),
      // Holes need a regular file; a device (tests: /dev/full) gets every byte.
      sparse: st.isFile(),
    });
  } catch (err) {
    await direct?.close().catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw sinkFailure(err, `preparing ${paths.partialPath}`);
  }
}

/** A single byte of zeros, written to make a file reach past a trailing hole. */
const ZERO_BYTE = Buffer.alloc(1);

class LocalDiskWriter extends BatchedFileWriter {
  /**
   * The file's size is at least this (bytes really written, or set by truncate).
   * Past it, up to the write position, lie skipped zero batches.
   */
  private fileEnd: number;

  constructor(
    private readonly paths: LocalWriterPaths,
    init: BatchedFileWriterInit,
  ) {
    super(init);
    this.fileEnd = init.resumeOffset; // the open truncated the partial to exactly this
  }

  /** Everything at or past the write position reads as zero (see the top of this file). */
  protected override mayLeaveZero(): Promise<boolean> {
    return Promise.resolve(true);
  }

  protected override afterWrite(end: number): void {
    this.fileEnd = Math.max(this.fileEnd, end);
  }

  /**
   * Makes the file cover `offset` before it is reported, so a resume finds the
   * checkpoint's bytes (a trailing hole counts). Not with ftruncate: a batch at
   * `offset` may be in flight, and a truncate landing after it would cut it off.
   * One zero byte at offset - 1, which lies in a skipped zero run, can only
   * extend the file, whatever order the two writes complete in.
   */
  protected override async beforeSync(offset: number): Promise<void> {
    if (!this.sparse || offset <= this.fileEnd) return;
    try {
      await this.fh.write(ZERO_BYTE, 0, 1, offset - 1);
    } catch (err) {
      throw sinkFailure(err, `writing ${this.path}`);
    }
    this.fileEnd = Math.max(this.fileEnd, offset);
  }

  /**
   * Buffers for write(): with direct I/O, memory the device accepts, so the
   * engine's batches bypass the page cache. Call before writing (it probes at the
   * end of the data and cuts the probe off again); `bytes` a multiple of 4096.
   */
  async allocateBuffers(count: number, bytes: number): Promise<Buffer[]> {
    if (!this.direct || bytes % DIRECT_ALIGN !== 0) return Array.from({ length: count }, () => Buffer.allocUnsafeSlow(bytes));
    await this.drain();
    const end = this.written;
    const probeAt = Math.ceil(end / DIRECT_ALIGN) * DIRECT_ALIGN;
    try {
      const buffers = await alignedBuffers(this.direct, probeAt, count, bytes);
      await this.fh.truncate(end);
      this.fileEnd = end;
      return buffers;
    } catch (err) {
      throw sinkFailure(err, `preparing ${this.paths.partialPath}`);
    }
  }

  /** Also gives a trailing zero run its full length, as a hole: nothing writes any more, so ftruncate is safe. */
  override async flush(): Promise<void> {
    await this.drain();
    if (this.sparse && this.fileEnd < this.written) {
      try {
        await this.fh.truncate(this.written);
      } catch (err) {
        throw sinkFailure(err, `extending ${this.path}`);
      }
      this.fileEnd = this.written;
    }
    await this.commit(true);
  }

  async reset(): Promise<void> {
    await this.rewind();
    try {
      if ((await this.fh.stat()).isFile()) await this.fh.truncate(0);
    } catch (err) {
      throw sinkFailure(err, `truncating ${this.paths.partialPath}`);
    }
    this.fileEnd = 0;
  }

  async finish(): Promise<FinishedFile> {
    await this.flush();
    try {
      await this.fh.sync();
      await this.closeHandle();
      await rename(this.paths.partialPath, this.paths.finalPath);
      await fsyncDirectory(this.paths.parentDir);
      const { size } = await stat(this.paths.finalPath);
      return { name: this.paths.name, uri: this.paths.uri ?? this.paths.finalPath, sizeBytes: size };
    } catch (err) {
      throw sinkFailure(err, `publishing ${this.paths.finalPath}`);
    }
  }

  async abort(): Promise<void> {
    await this.close();
    await unlink(this.paths.partialPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw sinkFailure(err, `removing ${this.paths.partialPath}`);
    });
  }
}
