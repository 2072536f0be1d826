// An output directory on a local (or mounted) file system. Every path stays inside
// the directory (see local-paths.ts); disks are written through resumable partial
// files and whole small files are written to a partial, fsynced and renamed, so
// nothing under a final name is ever incomplete.
import { constants } from 'node:fs';
import { mkdir, open, readdir, realpath, rename, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { containedPaths, validateRelativeName } from './local-paths.js';
import { fsyncDirectory, openLocalDiskWriter } from './local-disk-writer.js';
import type { DiskWriter, FinishedFile, OpenDiskWriterOptions, OutputSink } from './sink.js';
import { sinkFailure } from './sink-errors.js';

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

  async openDiskWriter(name: string, options: OpenDiskWriterOptions): Promise<DiskWriter> {
    const paths = await containedPaths(await this.root(), name);
    return openLocalDiskWriter({ name, ...paths }, options);
  }

  async writeFile(name: string, data: Buffer | string): Promise<FinishedFile> {
    const { finalPath, partialPath, parentDir } = await containedPaths(await this.root(), name);
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
