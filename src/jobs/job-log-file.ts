// The per-job log book: the worker appends its own log lines for a job to
// <data_dir>/job-logs/<job-id>.jsonl, one JSON object a line; the gateway of the
// same machine reads it for GET /jobs/logs/{id}. Bounded by the writer
// (MAX_JOB_LOG_BYTES, then one marker line and nothing more).
import { join } from 'node:path';

export const JOB_LOG_DIR = 'job-logs';
export const MAX_JOB_LOG_BYTES = 1024 * 1024;
/** The last line of a full book. */
export const JOB_LOG_FULL_MESSAGE = 'log book full: later lines of this job were not kept';

export type JobLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface JobLogRecord {
  timestamp: string;
  level: JobLogLevel;
  message: string;
  details?: Record<string, unknown>;
}

/** Same rule as the REST job ids (job-schemas.ts JOB_ID_PATTERN): no '/', no leading '.'. */
const SAFE_JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The book's path, or undefined for an id that must not become a file name. */
export function jobLogPath(dataDir: string, jobId: string): string | undefined {
  return SAFE_JOB_ID.test(jobId) ? join(dataDir, JOB_LOG_DIR, `${jobId}.jsonl`) : undefined;
}

const LEVELS = new Set<string>(['debug', 'info', 'warn', 'error']);

/** The records of a book's text; lines that are not records (a torn last line) are skipped. */
export function parseJobLog(text: string): JobLogRecord[] {
  const records: JobLogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as Partial<JobLogRecord>;
      if (typeof r.timestamp !== 'string' || typeof r.message !== 'string' || !LEVELS.has(String(r.level))) continue;
      const details = r.details !== null && typeof r.details === 'object' && !Array.isArray(r.details) ? r.details : undefined;
      records.push({ timestamp: r.timestamp, level: r.level!, message: r.message, ...(details ? { details } : {}) });
    } catch {
      // A line cut short by a crash mid-append: not a record.
    }
  }
  return records;
}
