// Maps storage failures to the workflow's error types. A full disk or quota is
// SinkFull and retryable: the partial stays, and once space is freed a retry
// resumes from the last checkpoint.
import { ApplicationFailure } from '@temporalio/common';
import { readlinkSync } from 'node:fs';
import { ErrorType } from '../core/errors.js';

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
/** Errors that no retry will fix: permissions, read-only file system, missing bucket. */
// ELOOP: a symlink planted where a partial is opened (O_NOFOLLOW): refused, never followed.
const PERMANENT_CODES = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ELOOP',
  'AccessDenied',
  'NoSuchBucket',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
]);

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; name?: unknown; Code?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  return undefined;
}

/**
 * Files are created through the output directory's descriptor
 * (/proc/self/fd/<fd>/<name>, see output-directory.ts); a message names the
 * directory the descriptor holds instead, which is what the user knows.
 */
export function shownPaths(text: string): string {
  return text.replace(/\/proc\/self\/fd\/(\d+)/g, (whole, fd: string) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return whole;
    }
  });
}

/** Wraps any storage error as an ApplicationFailure (passes ApplicationFailures through). */
export function sinkFailure(err: unknown, whatRaw: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const code = errorCode(err);
  const what = shownPaths(whatRaw);
  const detail = shownPaths(err instanceof Error ? err.message : String(err));
  const cause = err instanceof Error ? err : undefined;
  if (code !== undefined && FULL_CODES.has(code)) {
    return ApplicationFailure.create({
      type: ErrorType.SinkFull,
      message: `${what}: output storage is full (${code}); free space and the transfer resumes`,
      nonRetryable: false,
      cause,
    });
  }
  return ApplicationFailure.create({
    type: ErrorType.SinkError,
    message: `${what}: ${detail}`,
    nonRetryable: code !== undefined && PERMANENT_CODES.has(code),
    cause,
  });
}
