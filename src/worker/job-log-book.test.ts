// The worker's per-job log book: records that name a workflow or job go to
// <data_dir>/job-logs/<id>.jsonl (0640), redacted, bounded with a marker line;
// everything still reaches the inner logger.
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import { LogTimestamp } from '@temporalio/worker';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOB_LOG_FULL_MESSAGE, parseJobLog } from '../jobs/job-log-file.js';
import { JOB_LOG_MAX_AGE_MS, JobLogBook, JobLoggingLogger, pruneJobLogBooks } from './job-log-book.js';

function recordingLogger(): Logger & { calls: [LogLevel, string][] } {
  const calls: [LogLevel, string][] = [];
  const log = (level: LogLevel, message: string, _meta?: LogMetadata) => void calls.push([level, message]);
  return {
    calls,
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}

const activityMeta = {
  sdkComponent: 'activity',
  isLocal: false,
  attempt: 2,
  namespace: 'default',
  taskToken: 'AAAA',
  workflowId: 'job-1',
  workflowRunId: 'r1',
  workflowType: 'exportVmWorkflow',
  activityId: '5',
  activityType: 'transferDisk',
  taskQueue: 'q',
};

describe('job log book', () => {
  it('keeps a job\'s records in its file, redacted, and passes every record on', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-book-'));
    const inner = recordingLogger();
    const logger = new JobLoggingLogger(inner, new JobLogBook(dataDir));
    logger.info('Activity started', activityMeta);
    logger.warn('datastore read refused: https://svc:hunter2@esx/folder/d.vmdk?token=abc', {
      ...activityMeta,
      disk: 'd.vmdk',
      password: 'hunter2',
      sealedCredentials: 'v1.xyz',
      error: new Error('GET https://svc:hunter2@esx/x failed'),
      nested: { url: 'https://esx/a?lease=1', apiKey: 'k' },
    });
    logger.debug('Workflow started', { workflowId: 'job-1', [LogTimestamp]: 1_764_583_200_000_000_000n });
    logger.trace('ignored', { workflowId: 'job-1' });
    logger.info('Worker state changed', { state: 'RUNNING' }); // no job: not kept
    expect(inner.calls.map(([, m]) => m)).toHaveLength(5);

    const file = join(dataDir, 'job-logs', 'job-1.jsonl');
    expect(statSync(file).mode & 0o777 & ~0o640).toBe(0);
    expect(readdirSync(join(dataDir, 'job-logs'))).toEqual(['job-1.jsonl']);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toMatch(/hunter2|abc|v1\.xyz|lease=|AAAA|"k"/);
    const records = parseJobLog(text);
    expect(records.map((r) => [r.level, r.message])).toEqual([
      ['info', 'Activity started'],
      ['warn', 'datastore read refused: https://esx/folder/d.vmdk'],
      ['debug', 'Workflow started'],
    ]);
    expect(records[0]!.details).toEqual({ attempt: 2, activity: 'transferDisk' });
    expect(records[1]!.details).toEqual({
      attempt: 2,
      activity: 'transferDisk',
      disk: 'd.vmdk',
      error: 'Error: GET https://esx/x failed',
      nested: '{"url":"https://esx/a"}',
    });
    expect(records[2]!.timestamp).toBe('2025-12-01T10:00:00.000Z');
  });

  it('stops at its bound with one marker line, also after a restart', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-book-'));
    const maxBytes = 4096;
    const logger = new JobLoggingLogger(recordingLogger(), new JobLogBook(dataDir, maxBytes));
    for (let i = 0; i < 200; i++) logger.info(`line ${i} ${'x'.repeat(40)}`, { workflowId: 'job-2' });
    const file = join(dataDir, 'job-logs', 'job-2.jsonl');
    const size = statSync(file).size;
    expect(size).toBeLessThanOrEqual(maxBytes);
    const records = parseJobLog(readFileSync(file, 'utf8'));
    expect(records.at(-1)!.message).toBe(JOB_LOG_FULL_MESSAGE);
    expect(records.filter((r) => r.message === JOB_LOG_FULL_MESSAGE)).toHaveLength(1);
    // A new process (a restarted worker) finds the book full and adds nothing.
    new JobLoggingLogger(recordingLogger(), new JobLogBook(dataDir, maxBytes)).info('after restart', { workflowId: 'job-2' });
    expect(statSync(file).size).toBe(size);
  });

  it('never makes a file name of an id that is not a job id', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-book-'));
    const logger = new JobLoggingLogger(recordingLogger(), new JobLogBook(dataDir));
    for (const id of ['../escape', '.hidden', 'a/b', '']) logger.info('x', { workflowId: id });
    expect(existsSync(join(dataDir, 'job-logs'))).toBe(false);
    expect(existsSync(join(dataDir, 'escape.jsonl'))).toBe(false);
  });

  it('a book that cannot be written is reported once and never fails the log call', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-book-'));
    const failures: string[] = [];
    // A file where the directory should be.
    const blocked = join(dataDir, 'blocked');
    writeFileSync(blocked, '');
    const logger = new JobLoggingLogger(recordingLogger(), new JobLogBook(blocked, undefined, (m) => failures.push(m)));
    expect(() => {
      logger.info('a', { workflowId: 'job-3' });
      logger.info('b', { workflowId: 'job-4' });
    }).not.toThrow();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toContain('job log book: cannot write');
  });
});

describe('pruneJobLogBooks', () => {
  it('removes only books not written for 30 days, and nothing that is not a book', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'job-log-prune-'));
    const dir = join(dataDir, 'job-logs');
    mkdirSync(dir);
    const now = Date.now();
    const old = new Date(now - JOB_LOG_MAX_AGE_MS - 60_000);
    for (const name of ['old-job.jsonl', 'fresh-job.jsonl', 'notes.txt', '.hidden.jsonl']) writeFileSync(join(dir, name), '{}\n');
    mkdirSync(join(dir, 'old-dir.jsonl'));
    symlinkSync(join(dir, 'notes.txt'), join(dir, 'link-job.jsonl'));
    for (const name of ['old-job.jsonl', 'notes.txt', '.hidden.jsonl', 'old-dir.jsonl']) utimesSync(join(dir, name), old, old);

    expect(pruneJobLogBooks(dataDir, JOB_LOG_MAX_AGE_MS, now)).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['.hidden.jsonl', 'fresh-job.jsonl', 'link-job.jsonl', 'notes.txt', 'old-dir.jsonl']);
    // No job-logs directory yet: nothing to do.
    expect(pruneJobLogBooks(mkdtempSync(join(tmpdir(), 'job-log-none-')))).toBe(0);
  });
});
