// GET /jobs/logs/{id}: what happened to a job, from two places. The workflow's
// Temporal history (started, each activity scheduled / started with its attempt /
// completed / failed / timed out, cancel requests, the end), plus the retries of
// activities still running (describe), and the worker's own log lines for the job
// (its log book, when this machine has one). Payloads are never read: the
// workflow input carries the sealed vCenter credentials.
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { open } from 'node:fs/promises';
import { jobLogPath, parseJobLog, MAX_JOB_LOG_BYTES } from './job-log-file.js';
import { redactUrlsInText } from '../core/redact.js';
import type { JobLogLine } from './job-schemas.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Failure = temporal.api.failure.v1.IFailure | null | undefined;

// temporal.api.enums.v1.RetryState and TimeoutType, by number (the proto package
// is CommonJS without named ESM exports, so only its types are imported).
const RETRY_STATES = ['', 'in_progress', 'non_retryable_failure', 'timeout', 'maximum_attempts_reached', 'retry_policy_not_set', 'internal_server_error', 'cancel_requested'];
const TIMEOUT_TYPES = ['', 'start_to_close', 'schedule_to_start', 'schedule_to_close', 'heartbeat'];

type Timestamp = { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;

/** A protobuf timestamp (seconds a Long off the wire, a number when built in code) as a Date. */
function dateOf(ts: Timestamp): Date | undefined {
  if (!ts || ts.seconds === null || ts.seconds === undefined) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000));
}

/** A failure's message and its causes', one line, without URL userinfo. */
function failureText(failure: Failure): string {
  const parts: string[] = [];
  for (let f = failure, depth = 0; f && depth < 4; f = f.cause, depth++) {
    if (f.message && !parts.includes(f.message)) parts.push(f.message);
  }
  return redactUrlsInText(parts.join(': ') || 'no message');
}

function failureDetails(failure: Failure): Record<string, unknown> {
  const type = failure?.applicationFailureInfo?.type ?? failure?.cause?.applicationFailureInfo?.type;
  const timeout = failure?.timeoutFailureInfo?.timeoutType;
  return {
    ...(type ? { error_type: type } : {}),
    ...(timeout ? { timeout_type: TIMEOUT_TYPES[timeout] ?? String(timeout) } : {}),
  };
}

function retryStateName(state: number | null | undefined): string | undefined {
  return state ? (RETRY_STATES[state] ?? String(state)) : undefined;
}

/** Lines for the events of a history, in order. */
export function historyLines(events: readonly HistoryEvent[]): JobLogLine[] {
  const activityTypes = new Map<string, string>();
  const lines: JobLogLine[] = [];
  for (const event of events) {
    const at = dateOf(event.eventTime);
    if (!at) continue;
    const line = (level: JobLogLine['level'], message: string, details?: Record<string, unknown>): void => {
      lines.push({ timestamp: at.toISOString(), level, message, source: 'history', ...(details && Object.keys(details).length ? { details } : {}) });
    };
    const activityOf = (scheduledEventId: unknown): string => activityTypes.get(String(scheduledEventId)) ?? 'activity';
    if (event.workflowExecutionStartedEventAttributes) {
      const a = event.workflowExecutionStartedEventAttributes;
      line('info', 'export workflow started', { task_queue: a.taskQueue?.name, attempt: a.attempt ?? 1 });
    } else if (event.activityTaskScheduledEventAttributes) {
      const a = event.activityTaskScheduledEventAttributes;
      const name = a.activityType?.name ?? 'activity';
      activityTypes.set(String(event.eventId), name);
      line('debug', `${name} scheduled`, { activity: name, task_queue: a.taskQueue?.name });
    } else if (event.activityTaskStartedEventAttributes) {
      const a = event.activityTaskStartedEventAttributes;
      const name = activityOf(a.scheduledEventId);
      const attempt = a.attempt ?? 1;
      // Temporal records the start of the last attempt only; earlier ones failed with lastFailure.
      line(attempt > 1 ? 'warn' : 'info', attempt > 1 ? `${name} started, attempt ${attempt} (the previous one failed: ${failureText(a.lastFailure)})` : `${name} started`, {
        activity: name,
        attempt,
        ...(a.identity ? { worker: a.identity } : {}),
      });
    } else if (event.activityTaskCompletedEventAttributes) {
      const name = activityOf(event.activityTaskCompletedEventAttributes.scheduledEventId);
      line('info', `${name} finished`, { activity: name });
    } else if (event.activityTaskFailedEventAttributes) {
      const a = event.activityTaskFailedEventAttributes;
      const name = activityOf(a.scheduledEventId);
      line('error', `${name} failed: ${failureText(a.failure)}`, { activity: name, ...failureDetails(a.failure), retry_state: retryStateName(a.retryState) });
    } else if (event.activityTaskTimedOutEventAttributes) {
      const a = event.activityTaskTimedOutEventAttributes;
      const name = activityOf(a.scheduledEventId);
      line('error', `${name} timed out: ${failureText(a.failure)}`, { activity: name, ...failureDetails(a.failure), retry_state: retryStateName(a.retryState) });
    } else if (event.activityTaskCancelRequestedEventAttributes) {
      const name = activityOf(event.activityTaskCancelRequestedEventAttributes.scheduledEventId);
      line('warn', `${name}: cancellation requested`, { activity: name });
    } else if (event.activityTaskCanceledEventAttributes) {
      const name = activityOf(event.activityTaskCanceledEventAttributes.scheduledEventId);
      line('warn', `${name} stopped by the cancellation`, { activity: name });
    } else if (event.workflowExecutionCancelRequestedEventAttributes) {
      const a = event.workflowExecutionCancelRequestedEventAttributes;
      line('warn', 'cancellation of the job requested', { ...(a.identity ? { by: a.identity } : {}), ...(a.cause ? { cause: a.cause } : {}) });
    } else if (event.workflowTaskFailedEventAttributes) {
      line('warn', `workflow task failed: ${failureText(event.workflowTaskFailedEventAttributes.failure)}`);
    } else if (event.workflowExecutionCompletedEventAttributes) {
      line('info', 'job completed');
    } else if (event.workflowExecutionFailedEventAttributes) {
      const a = event.workflowExecutionFailedEventAttributes;
      line('error', `job failed: ${failureText(a.failure)}`, failureDetails(a.failure));
    } else if (event.workflowExecutionTimedOutEventAttributes) {
      line('error', 'job failed: the workflow timed out');
    } else if (event.workflowExecutionCanceledEventAttributes) {
      line('warn', 'job cancelled');
    } else if (event.workflowExecutionTerminatedEventAttributes) {
      const a = event.workflowExecutionTerminatedEventAttributes;
      line('warn', `job terminated${a.reason ? `: ${redactUrlsInText(a.reason)}` : ''}`, a.identity ? { by: a.identity } : undefined);
    }
  }
  return lines;
}

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** Activities still running after failed attempts: history shows them only once they end. */
export function retryLines(pending: readonly PendingActivity[]): JobLogLine[] {
  const lines: JobLogLine[] = [];
  for (const a of pending) {
    const attempt = a.attempt ?? 1;
    const at = dateOf(a.lastStartedTime) ?? dateOf(a.scheduledTime);
    if (attempt < 2 || !at) continue;
    const name = a.activityType?.name ?? 'activity';
    lines.push({
      timestamp: at.toISOString(),
      level: 'warn',
      message: `${name} retrying, attempt ${attempt}${a.lastFailure ? ` (the previous one failed: ${failureText(a.lastFailure)})` : ''}`,
      source: 'history',
      details: { activity: name, attempt, ...(a.maximumAttempts ? { maximum_attempts: a.maximumAttempts } : {}), ...(a.lastWorkerIdentity ? { worker: a.lastWorkerIdentity } : {}) },
    });
  }
  return lines;
}

/** The worker's lines for the job, when its log book is on this machine (at most the book's bound is read). */
export async function workerLines(dataDir: string, jobId: string): Promise<JobLogLine[]> {
  const path = jobLogPath(dataDir, jobId);
  if (!path) return [];
  let text: string;
  try {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      // The writer stops at its bound; read no more than that (plus the marker) whatever the file holds.
      const length = Math.min(size, MAX_JOB_LOG_BYTES + 4096);
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await file.close();
    }
  } catch {
    return []; // no book here: a worker on another machine ran it, or it logged nothing
  }
  return parseJobLog(text).map((r) => ({ ...r, source: 'worker' as const }));
}

/** History lines and worker lines, merged by time (stable: equal times keep their order). */
export async function jobLogs(client: Client, dataDir: string, jobId: string): Promise<JobLogLine[]> {
  const handle = client.workflow.getHandle(jobId);
  const [history, described, worker] = await Promise.all([handle.fetchHistory(), handle.describe(), workerLines(dataDir, jobId)]);
  const lines = [...historyLines(history.events ?? []), ...retryLines(described.raw.pendingActivities ?? []), ...worker];
  return lines
    .map((line, index) => ({ line, index, at: Date.parse(line.timestamp) }))
    .sort((a, b) => (a.at - b.at) || a.index - b.index)
    .map((e) => e.line);
}
