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
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, rename, unlink } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { containedPaths, validateRelativeName } from './local-paths.js';
import { fsyncDirectory, openLocalDiskWriter } from './local-disk-writer.js';
import type { ArchiveStaging, DiskWriter, FinishedFile, OpenDiskWriterOptions, OutputSink, StagedDiskRecord } from './sink.js';
import { createOvaPartial, openOvaRegionWriter, writeOvaHeaders } from './ova-region-writer.js';
import { sinkFailure } from './sink-errors.js';

/** Chunk size of staged-disk reads (an OVA packed after the transfers). */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export class LocalSink implements OutputSink {
  private rootReal: Promise<string> | undefined;

  /** `directory` must be absolute and already checked against the allowed output roots. */
  constructor(readonly directory: string) {}

  get location(): string {
    return this.directory;
  }

  private root(): Promise<string> {
    this.rootReal ??= mkdir(this.directory, { recursive: true }).then(() => realpath(this.directory));
    return this.rootReal;
  }

  readonly stages = true;

  /** An OVA's partial is ".<name>.partial" like a disk's; its record ".<name>.state.json". */
  readonly archives: ArchiveStaging = {
    create: async (name, totalBytes) => createOvaPartial((await this.paths(name)).partialPath, totalBytes),
    openRegion: async (name, region, options) => {
      const { partialPath, finalPath } = await this.paths(name);
      return openOvaRegionWriter(partialPath, region, { ...options, uri: finalPath });
    },
    writeHeaders: async (name, layout, contents) => writeOvaHeaders((await this.paths(name)).partialPath, layout, contents),
    // The archive's partial is complete once finalize wrote its headers.
    publish: (name) => this.publishFrom(name, 'partialPath'),
    readVerified: (name, start, end) => this.readVerified(name, start, end),
  };

  private async *readVerified(name: string, start: number, end?: number): AsyncIterable<Buffer> {
    const { verifiedPath } = await this.paths(name);
    let fh;
    try {
      // Only a regular file of ours: never follow a link planted under the hidden name.
      fh = await open(verifiedPath, constants.O_RDONLY | constants.O_NOFOLLOW);
      if (!(await fh.stat()).isFile()) throw new Error('not a regular file');
    } catch (err) {
      await fh?.close();
      throw sinkFailure(err, `reading the staged copy of ${name}`);
    }
    try {
      yield* fh.createReadStream({ start, ...(end !== undefined ? { end: end - 1 } : {}), highWaterMark: READ_CHUNK_BYTES, autoClose: false });
    } finally {
      await fh.close();
    }
  }

  private async paths(name: string) {
    const paths = await containedPaths(await this.root(), name);
    const hidden = (suffix: string) => join(paths.parentDir, `.${basename(paths.finalPath)}.${suffix}`);
    return { ...paths, verifiedPath: hidden('verified'), statePath: hidden('state.json') };
  }

  async openDiskWriter(name: string, options: OpenDiskWriterOptions): Promise<DiskWriter> {
    const paths = await this.paths(name);
    // Staged: the writer's atomic "publish" lands on the hidden verified name.
    const finalPath = options.stage ? paths.verifiedPath : paths.finalPath;
    return openLocalDiskWriter({ name, finalPath, partialPath: paths.partialPath, parentDir: paths.parentDir }, options);
  }

  async writeFile(name: string, data: Buffer | string): Promise<FinishedFile> {
    const { finalPath, partialPath, parentDir } = await containedPaths(await this.root(), name);
    return this.writeAtomically(name, finalPath, partialPath, parentDir, data);
  }

  private async writeAtomically(name: string, finalPath: string, partialPath: string, parentDir: string, data: Buffer | string): Promise<FinishedFile> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      const fh = await open(partialPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o640);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(partialPath, finalPath);
      await fsyncDirectory(parentDir);
    } catch (err) {
      await unlink(partialPath).catch(() => undefined);
      throw sinkFailure(err, `writing ${finalPath}`);
    }
    return { name, uri: finalPath, sizeBytes: bytes.length };
  }

  async remove(name: string): Promise<void> {
    const { finalPath, partialPath } = await containedPaths(await this.root(), name);
    for (const p of [partialPath, finalPath]) {
      await unlink(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw sinkFailure(err, `removing ${p}`);
      });
    }
  }

  async existing(names: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const name of names) {
      const { finalPath } = await containedPaths(await this.root(), name);
      if (await exists(finalPath)) found.push(name);
    }
    return found;
  }

  async readStaged(name: string): Promise<StagedDiskRecord | undefined> {
    const { statePath } = await this.paths(name);
    try {
      const record = JSON.parse(await readFile(statePath, 'utf8')) as StagedDiskRecord;
      return record?.version === 1 && typeof record.jobId === 'string' ? record : undefined;
    } catch {
      return undefined; // absent, or torn by a crash before its rename: no claim
    }
  }

  async writeStaged(name: string, record: StagedDiskRecord): Promise<void> {
    const { statePath, parentDir } = await this.paths(name);
    // A temporary name of its own per write: parallel transfers of one OVA refresh
    // the archive's record at the same time, and must not write one file at once.
    await this.writeAtomically(name, statePath, `${statePath}.${randomBytes(4).toString('hex')}.tmp`, parentDir, JSON.stringify(record));
  }

  publish(name: string): Promise<FinishedFile> {
    return this.publishFrom(name, 'verifiedPath');
  }

  /** Renames the staged file to its final name and drops its record; idempotent. */
  private async publishFrom(name: string, staged: 'verifiedPath' | 'partialPath'): Promise<FinishedFile> {
    const paths = await this.paths(name);
    const { finalPath, statePath, parentDir } = paths;
    try {
      // A retry after the rename finds the staged file gone and the final file there.
      if (await exists(paths[staged])) {
        await rename(paths[staged], finalPath);
        await fsyncDirectory(parentDir);
      }
      await unlinkIfPresent(statePath);
      const { size } = await lstat(finalPath);
      return { name, uri: finalPath, sizeBytes: size };
    } catch (err) {
      throw sinkFailure(err, `publishing ${finalPath}`);
    }
  }

  async discardStaged(name: string): Promise<void> {
    const { partialPath, verifiedPath, statePath } = await this.paths(name);
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
  }

  describe(name: string): string {
    validateRelativeName(name);
    return join(this.directory, name);
  }

  async listComplete(): Promise<string[]> {
    const root = await this.root();
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => relative(root, join(e.parentPath, e.name)))
      .filter((rel) => !rel.split('/').some((s) => s.startsWith('.')))
      .sort();
  }
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
