// The worker's log lines for each job, kept beside its data: every log record
// that names a workflow (the SDK's activity and workflow loggers add workflowId)
// or a jobId is also appended to <data_dir>/job-logs/<job-id>.jsonl, which the
// gateway of the same machine serves in GET /jobs/logs/{id}. Bounded per job
// (MAX_JOB_LOG_BYTES, then one marker line); files 0640; values are redacted and
// keys that could hold a secret are dropped, whatever the caller logged.
import type { Logger, LogLevel, LogMetadata } from '@temporalio/common';
import { LogTimestamp } from '@temporalio/worker';
import { appendFileSync, lstatSync, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { JOB_LOG_DIR, JOB_LOG_FULL_MESSAGE, jobLogPath, MAX_JOB_LOG_BYTES, type JobLogLevel, type JobLogRecord } from '../jobs/job-log-file.js';
import { redactUrlsInText } from '../core/redact.js';

/** Room kept for the marker line, so a book that reached its bound stays closed after a restart. */
const MARKER_RESERVE = 512;
const MAX_VALUE_CHARS = 2_000;
const MAX_TRACKED_JOBS = 10_000;

const LEVELS: Partial<Record<LogLevel, JobLogLevel>> = { DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
/** Attributes every SDK record carries: noise in a job's own log (the job id is the file). */
const ROUTINE_KEYS = new Set(['workflowId', 'workflowRunId', 'workflowType', 'namespace', 'taskQueue', 'taskToken', 'sdkComponent', 'isLocal', 'activityId', 'jobId', 'runId']);
const SECRET_KEY = /pass(word)?|secret|token|credential|sealed|authori[sz]ation|cookie|api.?key/i;

function clean(text: string): string {
  // URLs keep scheme, host and path: userinfo and queries (lease tokens) go.
  const redacted = redactUrlsInText(text);
  return redacted.length > MAX_VALUE_CHARS ? `${redacted.slice(0, MAX_VALUE_CHARS)}…` : redacted;
}

function detailValue(value: unknown): unknown {
  if (value instanceof Error) return clean(`${value.name}: ${value.message}`);
  if (typeof value === 'string') return clean(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  try {
    // Nested secrets by key are dropped as the top-level ones are.
    return clean(JSON.stringify(value, (key, v: unknown) => (key && SECRET_KEY.test(key) ? undefined : v)));
  } catch {
    return '[unserialisable]';
  }
}

/** The record to keep for a log call, or undefined when it is about no job. */
export function jobRecordOf(level: LogLevel, message: string, meta: LogMetadata | undefined, at = new Date()): { jobId: string; record: JobLogRecord } | undefined {
  const jobLevel = LEVELS[level];
  const jobId: unknown = meta?.workflowId ?? meta?.jobId;
  if (!jobLevel || typeof jobId !== 'string') return undefined;
  const stamp: unknown = meta?.[LogTimestamp];
  const timestamp = typeof stamp === 'bigint' ? new Date(Number(stamp / 1_000_000n)) : at;
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (ROUTINE_KEYS.has(key) || SECRET_KEY.test(key)) continue;
    const shown = detailValue(value);
    if (shown !== undefined) details[key === 'activityType' ? 'activity' : key] = shown;
  }
  return {
    jobId,
    record: { timestamp: timestamp.toISOString(), level: jobLevel, message: clean(message), ...(Object.keys(details).length ? { details } : {}) },
  };
}

/**
 * Books not written for this long go when a worker starts: their jobs have long
 * left Temporal's history too, and one book per job would otherwise pile up.
 */
export const JOB_LOG_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Removes the books of `dataDir` not written for `maxAgeMs`; only regular files
 * named <job-id>.jsonl (what the book writes), nothing else in the directory.
 * Returns how many it removed.
 */
export function pruneJobLogBooks(dataDir: string, maxAgeMs = JOB_LOG_MAX_AGE_MS, now = Date.now()): number {
  const dir = join(dataDir, JOB_LOG_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0; // no books yet
  }
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.jsonl') || jobLogPath(dataDir, name.slice(0, -'.jsonl'.length)) === undefined) continue;
    const path = join(dir, name);
    try {
      const stats = lstatSync(path);
      if (!stats.isFile() || now - stats.mtimeMs < maxAgeMs) continue;
      unlinkSync(path);
      removed++;
    } catch {
      // Gone meanwhile, or not ours to remove: left as it is.
    }
  }
  return removed;
}

export class JobLogBook {
  /** Bytes in each book this process has touched; -1 once full. */
  private readonly sizes = new Map<string, number>();
  private reportedFailure = false;

  constructor(
    private readonly dataDir: string,
    private readonly maxBytes = MAX_JOB_LOG_BYTES,
    /** Told once when a book cannot be written (the log call itself never fails). */
    private readonly onFailure: (message: string) => void = () => undefined,
  ) {}

  append(jobId: string, record: JobLogRecord): void {
    const path = jobLogPath(this.dataDir, jobId);
    if (!path) return;
    let size = this.sizes.get(jobId) ?? this.sizeOnDisk(path);
    if (size < 0) return;
    try {
      const line = `${JSON.stringify(record)}\n`;
      const bytes = Buffer.byteLength(line);
      const limit = this.maxBytes - MARKER_RESERVE;
      if (size >= limit) size = -1;
      else if (size + bytes > limit) {
        const marker: JobLogRecord = { timestamp: record.timestamp, level: 'warn', message: JOB_LOG_FULL_MESSAGE, details: { limit_bytes: this.maxBytes } };
        this.write(path, `${JSON.stringify(marker)}\n`);
        size = -1;
      } else {
        this.write(path, line);
        size += bytes;
      }
    } catch (err) {
      size = -1; // not retried for this job: a failing disk must not cost every log call
      if (!this.reportedFailure) {
        this.reportedFailure = true;
        this.onFailure(`job log book: cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); job logs keep only the history`);
      }
    }
    if (this.sizes.size >= MAX_TRACKED_JOBS && !this.sizes.has(jobId)) this.sizes.clear();
    this.sizes.set(jobId, size);
  }

  private sizeOnDisk(path: string): number {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  }

  private write(path: string, text: string): void {
    try {
      appendFileSync(path, text, { mode: 0o640 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      appendFileSync(path, text, { mode: 0o640 });
    }
  }
}

/** `inner`, plus a copy of every job's records in `book` (whatever inner's level lets through). */
export class JobLoggingLogger implements Logger {
  constructor(
    private readonly inner: Logger,
    private readonly book: JobLogBook,
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.inner.log(level, message, meta);
    const kept = jobRecordOf(level, message, meta);
    if (kept) this.book.append(kept.jobId, kept.record);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
