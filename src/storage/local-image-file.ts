// A disk image in a local output directory, written by offset: the partial
// ".<name>.partial" is opened once (created exclusively, or reopened when it is
// our own for a resume) and the format writer (qcow2, raw) does its positional
// writes on it. finish() fsyncs and renames it like any disk (local-disk-writer.ts),
// so a file under its final name is always a finished image.
//
// A qcow2's appends go to the device with O_DIRECT where it accepts them
// (direct-appender.ts: gathered into aligned memory, one write per MiB): buffered, the kernel's copy into the page cache and its writeback
// made a 4 GiB qcow2 export 25% slower than the OVF path, which writes directly
// (bench/formats section 1). The header, written last at offset 0, and every read
// go through the page cache; the two never share a block. Only while the image
// is hashed as it is written, though: once its SHA-256 must be read back at the
// end (a thin disk, predicted-hash.ts), the rest is written through the page
// cache, so that the read-back finds it there (from the device it took 2-3× as long).
import { constants } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { sha256OfFile } from '../formats/qcow2/index.js';
import { DirectAppender } from './direct-appender.js';
import { DIRECT_ALIGN, openDirect } from './direct-io.js';
import { fsyncDirectory, type LocalWriterPaths } from './local-disk-writer.js';
import { openOwnedOrCreate } from './output-directory.js';
import type { FinishedFile, ImageFile, OpenImageFileOptions, WriterState } from './sink.js';
import { sinkFailure } from './sink-errors.js';

/** `release` is called once when the file is closed or aborted (the sink holds its directory open until then). */
export async function openLocalImageFile(paths: LocalWriterPaths, options: OpenImageFileOptions, release: () => void = () => undefined): Promise<LocalImageFile> {
  let fh: FileHandle;
  try {
    fh = (await openOwnedOrCreate(paths.partialPath, constants.O_RDWR)).fh;
  } catch (err) {
    throw sinkFailure(err, `opening ${paths.partialPath}`);
  }
  try {
    // A new image starts empty; a resume keeps the bytes (the format writer cuts
    // the file back to its checkpoint itself).
    if (options.resume === undefined) await fh.truncate(0);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw sinkFailure(err, `preparing ${paths.partialPath}`);
  }
  return new LocalImageFile(paths, fh, release);
}

export class LocalImageFile implements ImageFile {
  readonly randomAccess = true;
  private handleClosed = false;
  private released = false;
  private finishedPath: string | undefined;
  /** Appends through O_DIRECT: opened at the first aligned writev, undefined before, null where the file system has none or once turned off. */
  private direct: DirectAppender | null | undefined;

  constructor(
    private readonly paths: LocalWriterPaths,
    /** The partial's handle: a raw image writes it directly (holes, O_DIRECT). */
    readonly handle: FileHandle,
    private readonly release: () => void,
  ) {}

  get name(): string {
    return this.paths.name;
  }

  private async io<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw sinkFailure(err, `${what} ${this.paths.partialPath}`);
    }
  }

  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    return this.io('writing', async () => {
      const bytes = buffers.reduce((sum, b) => sum + b.length, 0);
      const direct = await this.directAppender(position, bytes);
      if (direct && (await direct.append(buffers, position, bytes))) return { bytesWritten: bytes };
      return this.handle.writev(buffers, position);
    });
  }

  willBeReadBack(): void {
    const direct = this.direct;
    this.direct = null;
    // Writes are awaited one at a time, so none of the handle's is in flight.
    if (direct) void direct.close().catch(() => undefined);
  }

  /**
   * A second handle on the partial for O_DIRECT writes (a sparse raw image's
   * aligned data), or undefined where the file system refuses it. The caller closes it.
   */
  openDirect(): Promise<FileHandle | undefined> {
    return openDirect(this.paths.partialPath);
  }

  /** The direct appender, opened at the first append of at least a block at an aligned offset. */
  private async directAppender(position: number, bytes: number): Promise<DirectAppender | undefined> {
    if (this.direct === null || this.handleClosed) return undefined;
    if (this.direct) return this.direct;
    if (position % DIRECT_ALIGN !== 0 || bytes < DIRECT_ALIGN) return undefined;
    this.direct = (await DirectAppender.open(this.paths.partialPath, this.handle, position)) ?? null;
    return this.direct ?? undefined;
  }

  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return this.io('writing', () => this.handle.write(buffer, offset, length, position));
  }
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.io('reading', () => this.handle.read(buffer, offset, length, position));
  }
  datasync(): Promise<void> {
    return this.io('syncing', () => this.handle.datasync());
  }
  truncate(length: number): Promise<void> {
    return this.io('truncating', () => this.handle.truncate(length));
  }
  stat(): Promise<{ size: number }> {
    return this.io('checking', () => this.handle.stat());
  }

  /** The file holds its own bytes: everything datasync'ed survives, and the format writer's state says how far. */
  state(): WriterState {
    return { kind: 'local' };
  }

  async finish(): Promise<FinishedFile> {
    try {
      await this.handle.sync();
      await this.closeHandle();
      await rename(this.paths.partialPath, this.paths.finalPath);
      await fsyncDirectory(this.paths.parentDir);
      const { size } = await stat(this.paths.finalPath);
      this.finishedPath = this.paths.finalPath;
      return { name: this.paths.name, uri: this.paths.uri ?? this.paths.finalPath, sizeBytes: size };
    } catch (err) {
      throw sinkFailure(err, `publishing ${this.paths.finalPath}`);
    }
  }

  /** Reads the finished file back (a qcow2's header is written last, so no one-pass hash exists in general). */
  async sha256(): Promise<string> {
    const path = this.finishedPath;
    if (!path) throw new Error(`${this.paths.name}: sha256() before finish()`);
    const fh = await this.io('reading', () => open(path, constants.O_RDONLY | constants.O_NOFOLLOW));
    try {
      return await sha256OfFile(fh);
    } catch (err) {
      throw sinkFailure(err, `reading ${path}`);
    } finally {
      await fh.close();
    }
  }

  private async closeHandle(): Promise<void> {
    if (this.handleClosed) return;
    this.handleClosed = true;
    if (this.direct) await this.direct.close().catch(() => undefined);
    this.direct = null;
    await this.handle.close().catch(() => undefined);
  }

  /** After finish() and sha256(), or to keep the partial for a resume. */
  async close(): Promise<void> {
    await this.closeHandle();
    if (!this.released) {
      this.released = true;
      this.release();
    }
  }

  async abort(): Promise<void> {
    await this.closeHandle();
    try {
      await unlink(this.paths.partialPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw sinkFailure(err, `removing ${this.paths.partialPath}`);
      });
    } finally {
      await this.close();
    }
  }
}
