// Source images for bench/formats.ts, made once and kept in a cache directory
// (they take a minute or more to make): raw files of incompressible data (the
// AES-CTR keystream of src/devservices/vcsim-disks.ts) in given extents, holes
// elsewhere, and their streamOptimized VMDK made by qemu-img (what an ESXi
// ExportVm lease serves). A file's name carries its parameters; it is made under
// a temporary name and renamed when complete, so a file found is a whole one.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { diskContentRange } from '../src/devservices/vcsim-disks.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const WRITE_CHUNK = 8 * MiB;

export interface RawLayout {
  /** Part of the file names: bump it when the layout's code changes. */
  id: string;
  virtualSize: number;
  /** [offset, length] of the data; zeros (holes) elsewhere. Sorted, disjoint, MiB-aligned. */
  extents: [number, number][];
  seed: string;
}

export function dataBytes(layout: RawLayout): number {
  return layout.extents.reduce((sum, [, length]) => sum + length, 0);
}

export function benchCacheDir(): string {
  const dir = process.env.BENCH_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hypersdk', 'bench', 'formats');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The layout's parameters in a short, stable name: the same parameters find the same file. */
function fileStem(layout: RawLayout): string {
  const digest = createHash('sha256').update(JSON.stringify(layout)).digest('hex').slice(0, 12);
  return `${layout.id}-${digest}`;
}

/** The raw file of `layout` in `dir`, made if absent. Returns its path and whether it was made now. */
export async function rawSource(dir: string, layout: RawLayout): Promise<{ path: string; made: boolean }> {
  const path = join(dir, `${fileStem(layout)}.raw`);
  if (existsSync(path)) return { path, made: false };
  const partial = `${path}.partial`;
  const fh = await open(partial, 'w');
  try {
    await fh.truncate(layout.virtualSize);
    for (const [offset, length] of layout.extents) {
      for (let done = 0; done < length; done += WRITE_CHUNK) {
        const n = Math.min(WRITE_CHUNK, length - done);
        const at = offset + done;
        await fh.write(diskContentRange(layout.seed, at, at + n), 0, n, at);
      }
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(partial, { force: true });
    throw err;
  } finally {
    await fh.close().catch(() => undefined);
  }
  await rename(partial, path);
  return { path, made: true };
}

/** The streamOptimized VMDK of a raw file, made by qemu-img if absent. */
export async function streamOptimizedOf(rawPath: string): Promise<{ path: string; made: boolean }> {
  const path = rawPath.replace(/\.raw$/, '.stream.vmdk');
  if (existsSync(path)) return { path, made: false };
  const partial = `${path}.partial`;
  try {
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawPath, partial], { timeout: 30 * 60_000 });
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, path);
  return { path, made: true };
}

/** Reads a file once so every contender starts with it in the page cache. */
export async function warmPageCache(path: string): Promise<void> {
  await run('bash', ['-c', 'cat "$1" > /dev/null', 'warm', path], { timeout: 10 * 60_000 });
}
