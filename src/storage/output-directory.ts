// The output directory of a local export, opened once and written through its
// file descriptor.
//
// Why: a directory checked by path and written later by path can be redirected in
// between (a symlink, or another directory, swapped in under the same name). So the
// directory is opened once — walked from the allowed root one component at a time,
// each opened with O_NOFOLLOW | O_DIRECTORY, so no symlink is followed on the way —
// and every file is then named relative to that descriptor. On Linux the name
// /proc/self/fd/<fd>/<file> resolves through the open descriptor (the kernel's
// magic link to the opened directory), whatever the path now points to: the
// equivalent of openat/mkdirat/renameat, which Node does not offer. Elsewhere the
// real path checked at open is used (no such guarantee).
//
// Files are created with O_CREAT | O_EXCL | O_NOFOLLOW and mode 0640, directories
// the job creates 0750 (both less the umask). An existing file is written only when
// it is a regular file owned by this process's user with a single link (a resumed
// partial of ours); anything else at the name — a symlink, another user's file, a
// hard link — is refused and never followed.
import { ApplicationFailure } from '@temporalio/common';
import { constants, existsSync } from 'node:fs';
import { mkdir, open, realpath, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ErrorType } from '../core/errors.js';
import { isInside, validateRelativeName } from './local-paths.js';
import { shownPaths } from './sink-errors.js';

export const FILE_MODE = 0o640;
export const DIRECTORY_MODE = 0o750;

const PROC_FD = process.platform === 'linux' && existsSync('/proc/self/fd');
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

export function outputNotAllowed(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.OutputNotAllowed, message, nonRetryable: true });
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** realpath of the longest existing prefix of `path`, with the missing tail appended. */
async function realpathLongestPrefix(path: string): Promise<string> {
  const missing: string[] = [];
  for (let current = resolve(path); ;) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch (err) {
      if (code(err) !== 'ENOENT' && code(err) !== 'ENOTDIR') throw err;
      if (dirname(current) === current) return resolve(path);
      missing.push(basename(current));
      current = dirname(current);
    }
  }
}


/** Creates `path` exclusively (never through anything already there). */
export async function createExclusive(path: string, access: number = constants.O_RDWR): Promise<FileHandle> {
  try {
    return await open(path, access | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
  } catch (err) {
    if (code(err) === 'ELOOP')
      throw outputNotAllowed(`${shownPaths(path)} is a symlink; refusing to follow it`);
    throw err;
  }
}

/**
 * Opens an existing file that must be ours: a regular file (O_NOFOLLOW: a symlink
 * fails with ELOOP), owned by this user, with one link. Anything else is refused.
 */
export async function openOwned(
  path: string,
  access: number = constants.O_RDWR,
  label = shownPaths(path),
): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, access | constants.O_NOFOLLOW);
  } catch (err) {
    if (code(err) === 'ELOOP')
      throw outputNotAllowed(
        `${label} is a symlink, which this worker never creates; refusing to follow it (remove it)`,
      );
    throw err;
  }
  try {
    const st = await fh.stat();
    const uid = process.getuid?.();
    const why = !st.isFile()
      ? 'is not a regular file'
      : uid !== undefined && st.uid !== uid
        ? `belongs to uid ${st.uid}, not to this worker (uid ${uid})`
        : st.nlink !== 1
          ? `has ${st.nlink} links`
          : undefined;
    if (why)
      throw outputNotAllowed(
        `${label} ${why}: this worker did not create it and refuses to write through it (remove it)`,
      );
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** Creates the file, or reopens it when it is already there and ours (a partial to resume). */
export async function openOwnedOrCreate(
  path: string,
  access: number = constants.O_RDWR,
  label = shownPaths(path),
): Promise<{ fh: FileHandle; created: boolean }> {
  for (let tries = 0; ; tries++) {
    try {
      return { fh: await createExclusive(path, access), created: true };
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
    }
    try {
      return { fh: await openOwned(path, access, label), created: false };
    } catch (err) {
      // Removed between the two opens: create it after all.
      if (code(err) !== 'ENOENT' || tries >= 2) throw err;
    }
  }
}

/** True when two handles are the same file (the second open of a path reached the file the first one checked). */
export async function sameFile(a: FileHandle, b: FileHandle): Promise<boolean> {
  const [x, y] = await Promise.all([a.stat({ bigint: true }), b.stat({ bigint: true })]);
  return x.dev === y.dev && x.ino === y.ino;
}

/** Opens `dir/segment` as a directory without following a symlink, creating it (0750) when missing. */
async function openChild(
  parent: string,
  segment: string,
  shown: string,
  type: string = ErrorType.OutputNotAllowed,
): Promise<FileHandle> {
  const path = join(parent, segment);
  try {
    await mkdir(path, { mode: DIRECTORY_MODE });
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
  }
  try {
    return await open(path, DIRECTORY_FLAGS | constants.O_NOFOLLOW);
  } catch (err) {
    if (code(err) === 'ELOOP' || code(err) === 'ENOTDIR') {
      throw ApplicationFailure.create({
        type,
        message: `${shown} is ${code(err) === 'ELOOP' ? 'a symlink' : 'not a directory'}; output directories are opened without following symlinks`,
        nonRetryable: true,
      });
    }
    throw err;
  }
}

/**
 * One opened output directory. Every user holds it (hold/release) while it names
 * files through it; close() takes effect once nobody holds it, and nothing can
 * hold it after: a descriptor number is never used once it may belong to another file.
 */
export class OutputDirectory {
  private holders = 0;
  private closing = false;
  private closed = false;
  private readonly subdirs = new Map<string, Promise<FileHandle>>();

  private constructor(
    /** The real path checked when it was opened (for messages and results). */
    readonly realPath: string,
    private readonly fh: FileHandle,
  ) {}

  /**
   * Opens `directory`, creating what is missing (0750). With `allowedRoots`
   * (real paths: the worker's output.allowed_roots) it must lie inside one of
   * them, symlinks resolved, and is walked from that root without following any
   * symlink; without, the caller vouches for the path.
   */
  static async open(directory: string, allowedRoots?: readonly string[]): Promise<OutputDirectory> {
    if (!isAbsolute(directory) || directory.includes('\0')) {
      throw outputNotAllowed(`output directory ${JSON.stringify(directory)} is not an absolute path`);
    }
    const real = await realpathLongestPrefix(resolve(directory));
    let start = real;
    if (allowedRoots) {
      let root: string | undefined;
      for (const r of allowedRoots) {
        const rootReal = await realpathLongestPrefix(r);
        if (isInside(rootReal, real)) {
          root = rootReal;
          break;
        }
      }
      if (root === undefined) {
        throw outputNotAllowed(
          `output directory ${directory} resolves to ${real}, outside this worker's output.allowed_roots (${allowedRoots.length ? allowedRoots.join(', ') : 'none'}); ` +
            "use a directory under one of them, or allow it on the worker: output.allowed_roots in its configuration file, or HYPERSDK_OUTPUT_ROOTS (colon-separated; the worker's environment)",
        );
      }
      start = root;
    }
    // The root (or a directory the caller vouches for) is the operator's: created
    // if missing and opened as it is; below it nothing is followed.
    await mkdir(start, { recursive: true, mode: DIRECTORY_MODE });
    let fh = await open(start, DIRECTORY_FLAGS);
    let shown = start;
    try {
      for (const segment of relative(start, real).split(sep).filter(Boolean)) {
        const next = await openChild(fdPath(fh, shown), segment, join(shown, segment));
        shown = join(shown, segment);
        await fh.close();
        fh = next;
      }
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    return new OutputDirectory(real, fh);
  }

  /** The name of the opened directory: /proc/self/fd/<fd> on Linux. Only while held. */
  get path(): string {
    if (this.closed) throw new Error(`output directory ${this.realPath} is closed`);
    return fdPath(this.fh, this.realPath);
  }

  /** Keeps the directory open until the returned function is called (once). */
  hold(): () => void {
    if (this.closing) throw new Error(`output directory ${this.realPath} is closed`);
    this.holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders--;
      if (this.closing && this.holders === 0) void this.closeNow();
    };
  }

  /**
   * The directory that holds `name` (a checked relative name; nested segments are
   * opened, or created 0750, without following symlinks) and the name's last segment.
   * Returns a path through an open descriptor, valid while the directory is held.
   */
  async parentOf(name: string): Promise<{ dir: string; base: string; shown: string }> {
    const segments = validateRelativeName(name);
    const base = segments.pop()!;
    if (segments.length === 0) return { dir: this.path, base, shown: this.realPath };
    const key = segments.join('/');
    let sub = this.subdirs.get(key);
    if (!sub) {
      sub = (async () => {
        let parent = this.path;
        let shown = this.realPath;
        let fh: FileHandle | undefined;
        for (const segment of segments) {
          shown = join(shown, segment);
          // A symlink inside the output is a bad name, as local-paths.ts calls it.
          const next = await openChild(parent, segment, shown, ErrorType.OutputPathNotAllowed);
          await fh?.close();
          fh = next;
          parent = fdPath(fh, shown);
        }
        return fh!;
      })();
      this.subdirs.set(key, sub);
      sub.catch(() => this.subdirs.delete(key));
    }
    return {
      dir: fdPath(await sub, join(this.realPath, ...segments)),
      base,
      shown: join(this.realPath, ...segments),
    };
  }

  /** Closes once no holder is left. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.holders === 0) await this.closeNow();
  }

  private async closeNow(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const subs = [...this.subdirs.values()];
    this.subdirs.clear();
    await Promise.allSettled(subs.map((s) => s.then((fh) => fh.close())));
    await this.fh.close().catch(() => undefined);
  }
}

function fdPath(fh: FileHandle, fallback: string): string {
  return PROC_FD ? `/proc/self/fd/${fh.fd}` : fallback;
}
