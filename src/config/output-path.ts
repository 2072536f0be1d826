// Where exports may be written. An output path from a client is untrusted: it must
// land, after resolving every symlink that already exists, inside one of the
// configured roots. Paths that do not exist yet are resolved through their longest
// existing prefix, so a symlinked parent cannot smuggle the export elsewhere.
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ErrorType } from '../core/errors.js';
import { isInside } from '../storage/local-paths.js';
import { OUTPUT_ROOTS_ENV } from './env.js';
import type { HyperConfig } from './types.js';

export class OutputPathNotAllowedError extends Error {
  override name = 'OutputPathNotAllowedError';
  readonly type = ErrorType.OutputPathNotAllowed;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** realpath of the longest existing prefix of `path`, with the missing tail appended. */
export async function realpathLongestPrefix(path: string): Promise<string> {
  const missing: string[] = [];
  let current = resolve(path);
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length ? join(real, ...missing.reverse()) : real;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = dirname(current);
      if (parent === current) return resolve(path);
      missing.push(basename(current));
      current = parent;
    }
  }
}

/**
 * Resolves a client-given output path against the allowed roots. Absolute paths
 * must resolve inside a root; relative ones go under the first root.
 * Returns the resolved absolute path.
 */
export async function resolveOutputPath(
  config: Pick<HyperConfig, 'output'>,
  requested: string,
  field = 'output_path',
): Promise<string> {
  const roots = config.output.allowedRoots;
  const first = roots[0];
  if (first === undefined) throw new OutputPathNotAllowedError(field, 'no allowed output roots are configured');
  if (requested.trim() === '') throw new OutputPathNotAllowedError(field, 'must not be empty');
  if (requested.includes('\0')) throw new OutputPathNotAllowedError(field, 'must not contain NUL bytes');
  const absolute = isAbsolute(requested) ? resolve(requested) : resolve(first, requested);
  const real = await realpathLongestPrefix(absolute);
  for (const root of roots) {
    if (isInside(await realpathLongestPrefix(root), real)) return real;
  }
  throw new OutputPathNotAllowedError(
    field,
    `${JSON.stringify(requested)} resolves to ${real}, outside the allowed output roots (${roots.join(', ')}); ` +
      `use a path under one of them, or allow ${dirname(real)} on the daemon: ${howToAllow(roots, dirname(real))}`,
  );
}

/**
 * The one setting that allows `directory` besides `roots`, in both places it can
 * be made: the file key and the environment variable (which replaces the list, so
 * it repeats the roots in force).
 */
export function howToAllow(roots: readonly string[], directory: string): string {
  return `add it to output.allowed_roots in the configuration file, or set ${OUTPUT_ROOTS_ENV}=${[...roots, directory].join(':')} (colon-separated)`;
}

// Kept here for callers that think of it as path hygiene; the one implementation
// lives with the export file names (pure, usable from workflow code).
export { safeFileName } from '../export/disk-files.js';
