// An output directory on a local (or mounted) file system. Every path stays inside
// the directory (see local-paths.ts); disks are written through resumable partial
// files and whole small files are written to a partial, fsynced and renamed, so
// nothing under a final name is ever incomplete.
//
// Staging: an export's disk lives out of sight until the whole export succeeds:
//   .<name>.partial     bytes arriving (resumable from the transfer's checkpoint)
//   .<name>.verified    every byte in, fsynced, hashed; waiting for publish()
//   .<name>.state.json  which job wrote it, its size and SHA-256, its source
// publish() renames .verified to <name>. So a failed export never replaces or
// removes a file it did not create, and keeps its verified disks for a later job.
//
// The directory is opened once (output-directory.ts): checked against the allowed
// roots, walked without following symlinks, and every file named through its
// descriptor, so nothing swapped in under its path later redirects a byte. Files
// are created exclusively (0640) and an existing one is used only when it is ours.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, readdir, rename, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { validateRelativeName } from './local-paths.js';
import { delegatingWriter } from './delegating-writer.js';
import { fsyncDirectory, openLocalDiskWriter } from './local-disk-writer.js';
import { openLocalImageFile } from './local-image-file.js';
import { createExclusive, openOwned, OutputDirectory } from './output-directory.js';
import type {
  ArchiveStaging,
  DiskWriter,
  FinishedFile,
  FinishedFileReader,
  ImageFile,
  OpenDiskWriterOptions,
  OpenImageFileOptions,
  OutputSink,
  StagedDiskRecord,
} from './sink.js';
import { createOvaPartial, openOvaRegionWriter, writeOvaHeaders } from './ova-region-writer.js';
import { sinkFailure } from './sink-errors.js';

/** Chunk size of staged-disk reads (an OVA packed after the transfers). */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface LocalSinkOptions {
  /**
   * Real paths the directory must lie in (the worker's output.allowed_roots);
   * refused with OutputNotAllowed otherwise. Absent: the caller vouches for it.
   */
  allowedRoots?: readonly string[];
}

export class LocalSink implements OutputSink {
  private dir: Promise<OutputDirectory> | undefined;

  /** `directory` must be absolute. */
  constructor(
    readonly directory: string,
    private readonly options: LocalSinkOptions = {},
  ) {}

  get location(): string {
    return this.directory;
  }

  /** Checks the directory against the rules and opens it (once; later calls reuse it). */
  open(): Promise<OutputDirectory> {
    if (!this.dir) {
      this.dir = OutputDirectory.open(this.directory, this.options.allowedRoots);
      // A failure is not kept: the next call checks again.
      this.dir.catch(() => (this.dir = undefined));
    }
    return this.dir;
  }

  /** Closes the directory once every writer opened through it is closed. */
  async close(): Promise<void> {
    const dir = await this.dir?.catch(() => undefined);
    this.dir = undefined;
    await dir?.close();
  }

  /** Runs `fn` with the opened directory's path (/proc/self/fd/<fd> on Linux), held open meanwhile. */
  async withDirectory<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await this.open();
    const release = dir.hold();
    try {
      return await fn(dir.path);
    } finally {
      release();
    }
  }

  private async held<T>(fn: (dir: OutputDirectory) => Promise<T>): Promise<T> {
    const dir = await this.open();
    const release = dir.hold();
    try {
      return await fn(dir);
    } finally {
      release();
    }
  }

  readonly stages = true;
  readonly imagesSeekable = true;

  /** An OVA's partial is ".<name>.partial" like a disk's; its record ".<name>.state.json". */
  readonly archives: ArchiveStaging = {
    create: (name, totalBytes) =>
      this.held(async (d) => createOvaPartial((await paths(d, name)).partialPath, totalBytes)),
    openRegion: (name, region, options) =>
      this.holding(async (d) => {
        const { partialPath, uri } = await paths(d, name);
        return openOvaRegionWriter(partialPath, region, { ...options, uri });
      }),
    writeHeaders: (name, layout, contents) =>
      this.held(async (d) => writeOvaHeaders((await paths(d, name)).partialPath, layout, contents)),
    // The archive's partial is complete once finalize wrote its headers.
    publish: (name) => this.publishFrom(name, 'partialPath'),
    readVerified: (name, start, end) => this.readVerified(name, start, end),
  };

  /** Reads a staged, verified disk of this worker's (never a link or another user's file), the directory held open meanwhile. */
  private async *readVerified(name: string, start: number, end?: number): AsyncIterable<Buffer> {
    const dir = await this.open();
    const release = dir.hold();
    try {
      const { verifiedPath, uri } = await paths(dir, name);
      const fh = await openOwned(verifiedPath, constants.O_RDONLY, `the staged copy of ${uri}`);
      try {
        yield* fh.createReadStream({ start, ...(end !== undefined ? { end: end - 1 } : {}), highWaterMark: READ_CHUNK_BYTES, autoClose: false });
      } finally {
        await fh.close();
      }
    } finally {
      release();
    }
  }

  /** Opens a writer that keeps the directory open until it is closed, aborted or finished. */
  private async holding(open: (dir: OutputDirectory) => Promise<DiskWriter>): Promise<DiskWriter> {
    const dir = await this.open();
    const release = dir.hold();
    try {
      return holdingWriter(await open(dir), release);
    } catch (err) {
      release();
      throw err;
    }
  }

  openDiskWriter(name: string, options: OpenDiskWriterOptions): Promise<DiskWriter> {
    return this.holding(async (d) => {
      const p = await paths(d, name);
      // Staged: the writer's atomic "publish" lands on the hidden verified name.
      const finalPath = options.stage ? p.verifiedPath : p.finalPath;
      return openLocalDiskWriter(
        {
          name,
          finalPath,
          partialPath: p.partialPath,
          parentDir: p.parentDir,
          uri: options.stage ? p.verifiedUri : p.uri,
        },
        options,
      );
    });
  }

  async openImageFile(name: string, options: OpenImageFileOptions): Promise<ImageFile> {
    const d = await this.open();
    const release = d.hold();
    try {
      const p = await paths(d, name);
      const finalPath = options.stage ? p.verifiedPath : p.finalPath;
      return await openLocalImageFile(
        { name, finalPath, partialPath: p.partialPath, parentDir: p.parentDir, uri: options.stage ? p.verifiedUri : p.uri },
        options,
        release,
      );
    } catch (err) {
      release();
      throw err;
    }
  }

  writeFile(name: string, data: Buffer | string): Promise<FinishedFile> {
    return this.held(async (d) => {
      const { finalPath, partialPath, parentDir, uri } = await paths(d, name);
      await writeAtomically(finalPath, partialPath, parentDir, data, uri);
      return { name, uri, sizeBytes: typeof data === 'string' ? Buffer.byteLength(data) : data.length };
    });
  }

  remove(name: string): Promise<void> {
    return this.held(async (d) => {
      const { finalPath, partialPath, uri } = await paths(d, name);
      for (const p of [partialPath, finalPath]) {
        await unlink(p).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT')
            throw sinkFailure(err, `removing ${p === finalPath ? uri : `the partial of ${uri}`}`);
        });
      }
    });
  }

  existing(names: string[]): Promise<string[]> {
    return this.held(async (d) => {
      const found: string[] = [];
      for (const name of names) {
        if (await exists((await paths(d, name)).finalPath)) found.push(name);
      }
      return found;
    });
  }

  readStaged(name: string): Promise<StagedDiskRecord | undefined> {
    return this.held(async (d) => {
      const { statePath } = await paths(d, name);
      try {
        // Only a record this worker wrote: a symlink or another user's file is no claim.
        const fh = await openOwned(statePath, constants.O_RDONLY);
        try {
          const record = JSON.parse(await fh.readFile('utf8')) as StagedDiskRecord;
          return record?.version === 1 && typeof record.jobId === 'string' ? record : undefined;
        } finally {
          await fh.close();
        }
      } catch {
        return undefined; // absent, foreign, or torn by a crash before its rename: no claim
      }
    });
  }

  async createStaged(name: string, record: StagedDiskRecord): Promise<StagedDiskRecord | undefined> {
    const outcome = await this.held(async (d) => {
      const { statePath, parentDir, uri } = await paths(d, name);
      return writeAtomically(statePath, `${statePath}.${randomBytes(4).toString('hex')}.tmp`, parentDir, JSON.stringify(record), `the record of ${uri}`, { exclusive: true });
    });
    if (outcome === 'written') return undefined;
    const found = await this.readStaged(name);
    if (found) return found; // another claim came first
    // An unreadable record (foreign, not this worker's) is no claim: replaced, as writeStaged does.
    await this.writeStaged(name, record);
    return undefined;
  }

  writeStaged(name: string, record: StagedDiskRecord): Promise<void> {
    return this.held(async (d) => {
      const { statePath, parentDir, uri } = await paths(d, name);
      // A temporary name of its own per write: parallel transfers of one OVA refresh
      // the archive's record at the same time, and must not write one file at once.
      await writeAtomically(
        statePath,
        `${statePath}.${randomBytes(4).toString('hex')}.tmp`,
        parentDir,
        JSON.stringify(record),
        `the record of ${uri}`,
      );
    });
  }

  publish(name: string): Promise<FinishedFile> {
    return this.publishFrom(name, 'verifiedPath');
  }

  /** Renames the staged file to its final name and drops its record; idempotent. */
  private publishFrom(name: string, staged: 'verifiedPath' | 'partialPath'): Promise<FinishedFile> {
    return this.held(async (d) => {
      const p = await paths(d, name);
      try {
        // A retry after the rename finds the staged file gone and the final file there.
        if (await exists(p[staged])) {
          // Only a file this worker made: never publish something planted under the staged name.
          await (await openOwned(p[staged], constants.O_RDONLY, `the staged copy of ${p.uri}`)).close();
          await rename(p[staged], p.finalPath);
          await fsyncDirectory(p.parentDir);
        }
        await unlinkIfPresent(p.statePath);
        const { size } = await lstat(p.finalPath);
        return { name, uri: p.uri, sizeBytes: size };
      } catch (err) {
        throw sinkFailure(err, `publishing ${p.uri}`);
      }
    });
  }

  discardStaged(name: string): Promise<void> {
    return this.held(async (d) => {
      const { partialPath, verifiedPath, statePath } = await paths(d, name);
      try {
        // The record goes last: as long as data is left, its owner is known. Only
        // regular files: the writers never make anything else, so a symlink or a
        // directory under these names was put there by someone else.
        await unlinkIfRegularFile(partialPath);
        await unlinkIfRegularFile(verifiedPath);
        await unlinkIfRegularFile(statePath);
      } catch (err) {
        throw sinkFailure(err, `removing the staged copy of ${name}`);
      }
    });
  }

  /** The published file (never a link or another user's file), the directory held open until it is closed. */
  async openFinished(name: string): Promise<FinishedFileReader> {
    const dir = await this.open();
    const release = dir.hold();
    try {
      const { finalPath, uri } = await paths(dir, name);
      const fh = await openOwned(finalPath, constants.O_RDONLY, uri);
      const { size, mtimeMs } = await fh.stat().catch(async (err: unknown) => {
        await fh.close();
        throw err;
      });
      return {
        uri,
        sizeBytes: size,
        version: `${size}-${mtimeMs}`,
        cheapScan: true,
        read: (buffer, offset, length, position) => fh.read(buffer, offset, length, position),
        close: () => fh.close().finally(release),
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  describe(name: string): string {
    validateRelativeName(name);
    return join(this.directory, name);
  }

  listComplete(): Promise<string[]> {
    return this.held(async (d) => {
      const root = d.path;
      const entries = await readdir(root, { recursive: true, withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && !e.name.startsWith('.'))
        .map((e) => relative(root, join(e.parentPath, e.name)))
        .filter((rel) => !rel.split('/').some((s) => s.startsWith('.')))
        .sort();
    });
  }
}

/** Every name a file of the sink has, through the opened directory; `uri` is the one to show. */
async function paths(dir: OutputDirectory, name: string) {
  const { dir: parentDir, base, shown } = await dir.parentOf(name);
  const hidden = (suffix: string) => join(parentDir, `.${base}.${suffix}`);
  return {
    finalPath: join(parentDir, base),
    partialPath: hidden('partial'),
    verifiedPath: hidden('verified'),
    statePath: hidden('state.json'),
    parentDir,
    uri: join(shown, base),
    verifiedUri: join(shown, `.${base}.verified`),
  };
}

/**
 * Writes a whole small file under a temporary name, created exclusively (a stale
 * one of ours from a crashed attempt is removed first), then renames it.
 */
async function writeAtomically(
  finalPath: string,
  partialPath: string,
  parentDir: string,
  data: Buffer | string,
  shown: string,
  { exclusive = false }: { exclusive?: boolean } = {},
): Promise<'written' | 'exists'> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let created = false;
  try {
    let fh;
    try {
      fh = await createExclusive(partialPath, constants.O_WRONLY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await (await openOwned(partialPath, constants.O_RDONLY, `the partial of ${shown}`)).close();
      await unlink(partialPath);
      fh = await createExclusive(partialPath, constants.O_WRONLY);
    }
    created = true;
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (exclusive) {
      // link() fails where the name exists: of two writers racing, one wins.
      try {
        await link(partialPath, finalPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        await unlink(partialPath);
        return 'exists';
      }
      await unlink(partialPath);
    } else {
      await rename(partialPath, finalPath);
    }
    await fsyncDirectory(parentDir);
    return 'written';
  } catch (err) {
    if (created) await unlink(partialPath).catch(() => undefined);
    throw sinkFailure(err, `writing ${shown}`);
  }
}

/** The writer, keeping the directory open (`release` once it is closed, aborted or finished). */
function holdingWriter(writer: DiskWriter, release: () => void): DiskWriter {
  const after =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } finally {
        release();
      }
    };
  return delegatingWriter(writer, {
    // A failed finish keeps the writer (and the directory) for close() or abort().
    finish: async () => {
      const file = await writer.finish();
      release();
      return file;
    },
    close: after(() => writer.close()),
    abort: after(() => writer.abort()),
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw sinkFailure(err, `checking ${path}`);
  }
}

async function unlinkIfRegularFile(path: string): Promise<void> {
  try {
    if (!(await lstat(path)).isFile()) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await unlinkIfPresent(path);
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
