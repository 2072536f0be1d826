// Log lines of GET /jobs/logs/{id}: from history events (with attempts, failures,
// cancellation), from the pending retries, and from the worker's log book; never
// from payloads, which hold the sealed credentials.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyLines, retryLines, workerLines } from './logs.js';

const ts = (second: number) => ({ seconds: 1_764_583_200 + second, nanos: 0 });
const secret = { payloads: [{ metadata: {}, data: Buffer.from('{"sealedCredentials":"v1.SECRET"}') }] };

const events = [
  { eventId: 1, eventTime: ts(0), workflowExecutionStartedEventAttributes: { taskQueue: { name: 'q' }, input: secret, attempt: 1 } },
  { eventId: 5, eventTime: ts(1), activityTaskScheduledEventAttributes: { activityType: { name: 'transferDisk' }, taskQueue: { name: 'q@w1' }, input: secret } },
  {
    eventId: 6,
    eventTime: ts(9),
    activityTaskStartedEventAttributes: { scheduledEventId: 5, attempt: 3, identity: 'w1', lastFailure: { message: 'read https://u:pw@esx/file?token=x reset' } },
  },
  { eventId: 7, eventTime: ts(10), activityTaskFailedEventAttributes: { scheduledEventId: 5, failure: { message: 'disk gone', applicationFailureInfo: { type: 'DiskNotFound' } }, retryState: 2 } },
  { eventId: 8, eventTime: ts(11), workflowExecutionCancelRequestedEventAttributes: { identity: 'hyperctl@box' } },
  { eventId: 9, eventTime: ts(12), workflowExecutionFailedEventAttributes: { failure: { message: 'export failed', cause: { message: 'disk gone' } } } },
];

describe('history lines', () => {
  it('names activities, attempts and failures, without any payload', () => {
    const lines = historyLines(events as never);
    expect(lines.map((l) => [l.level, l.message])).toEqual([
      ['info', 'export workflow started'],
      ['debug', 'transferDisk scheduled'],
      ['warn', 'transferDisk started, attempt 3 (the previous one failed: read https://esx/file reset)'],
      ['error', 'transferDisk failed: disk gone'],
      ['warn', 'cancellation of the job requested'],
      ['error', 'job failed: export failed: disk gone'],
    ]);
    expect(lines[2]!.details).toEqual({ activity: 'transferDisk', attempt: 3, worker: 'w1' });
    expect(lines[3]!.details).toMatchObject({ error_type: 'DiskNotFound', retry_state: 'non_retryable_failure' });
    expect(lines.every((l) => l.source === 'history')).toBe(true);
    expect(lines[0]!.timestamp).toBe('2025-12-01T10:00:00.000Z');
    const text = JSON.stringify(lines);
    expect(text).not.toContain('SECRET');
    expect(text).not.toContain('pw@');
    expect(text).not.toContain('token=');
  });

  it('activities still retrying show their attempt and last failure', () => {
    const lines = retryLines([
      { activityType: { name: 'transferDisk' }, attempt: 2, maximumAttempts: 5, lastStartedTime: ts(20), lastFailure: { message: 'connection reset' }, lastWorkerIdentity: 'w2' },
      { activityType: { name: 'keepLease' }, attempt: 1, lastStartedTime: ts(20) },
    ] as never);
    expect(lines).toEqual([
      {
        timestamp: '2025-12-01T10:00:20.000Z',
        level: 'warn',
        message: 'transferDisk retrying, attempt 2 (the previous one failed: connection reset)',
        source: 'history',
        details: { activity: 'transferDisk', attempt: 2, maximum_attempts: 5, worker: 'w2' },
      },
    ]);
  });
});

describe('worker lines', () => {
  it('reads the job\'s log book when there is one, skipping torn lines', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-logs-'));
    expect(await workerLines(dataDir, 'job-1')).toEqual([]);
    mkdirSync(join(dataDir, 'job-logs'));
    writeFileSync(
      join(dataDir, 'job-logs', 'job-1.jsonl'),
      `${JSON.stringify({ timestamp: '2026-12-01T10:00:00.000Z', level: 'info', message: 'Activity started', details: { attempt: 1 } })}\n{"timestamp":"2026-12`,
    );
    expect(await workerLines(dataDir, 'job-1')).toEqual([
      { timestamp: '2026-12-01T10:00:00.000Z', level: 'info', message: 'Activity started', details: { attempt: 1 }, source: 'worker' },
    ]);
    // Never a path outside the book's directory.
    expect(await workerLines(dataDir, '../job-logs/job-1')).toEqual([]);
  });
});
