// Keeps every file a LocalSink touches inside its directory. Names are relative,
// made of plain segments (no "..", no absolute paths, no leading "." so that a
// complete file can never be mistaken for a partial, which are ".<name>.partial"),
// and the parent directory is resolved with realpath so a symlink inside the export
// directory cannot lead writes outside it. Files themselves are opened with
// O_NOFOLLOW by the writers.
import { ApplicationFailure } from '@temporalio/common';
import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { ErrorType } from '../core/errors.js';

export interface ContainedPaths {
  /** Absolute final path. */
  finalPath: string;
  /** Absolute path of the partial file in the same directory (same file system, so rename is atomic). */
  partialPath: string;
  /** Directory holding both, to fsync after the rename. */
  parentDir: string;
}

function reject(name: string, why: string): never {
  throw ApplicationFailure.create({
    type: ErrorType.OutputPathNotAllowed,
    message: `output file name ${JSON.stringify(name)} rejected: ${why}`,
    nonRetryable: true,
  });
}

/** Checks the name's shape only (no file system access). Returns its segments. */
export function validateRelativeName(name: string): string[] {
  if (name.length === 0) reject(name, 'empty');
  if (name.includes('\0')) reject(name, 'contains NUL');
  if (isAbsolute(name) || name.startsWith('/') || name.startsWith('\\')) reject(name, 'absolute path');
  const segments = name.split(/[\\/]/);
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') reject(name, 'empty, "." or ".." segment');
    if (s.startsWith('.')) reject(name, 'segments may not start with "." (reserved for partial files)');
  }
  return segments;
}

export function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Resolves `name` under `rootReal` (already a realpath), creating missing parent
 * directories, and verifies the real parent directory is still inside the root.
 */
export async function containedPaths(rootReal: string, name: string): Promise<ContainedPaths> {
  validateRelativeName(name);
  const wanted = join(rootReal, name);
  const parent = dirname(wanted);
  if (!isInside(rootReal, parent)) reject(name, 'escapes the output directory');
  await mkdir(parent, { recursive: true });
  const parentReal = await realpath(parent);
  if (!isInside(rootReal, parentReal)) reject(name, 'a symlink leads outside the output directory');
  const base = basename(wanted);
  return {
    finalPath: join(parentReal, base),
    partialPath: join(parentReal, `.${base}.partial`),
    parentDir: parentReal,
  };
}
