import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../core/errors.js';

const retry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
} as const;

/**
 * Control-plane calls: describe, prepare (snapshot, power-off), export session
 * open/complete, output check, cleanup. Most take seconds, but some wait on the
 * source for long: on vCenter, removing a snapshot consolidates its delta (hours
 * for a 2 TiB disk that changed a lot), a guest shutdown waits its timeout. They
 * heartbeat while they wait (heartbeat.ts), so a dead worker is still noticed
 * within a minute, and the start-to-close bound only catches the truly stuck.
 */
export const controlOptions: ActivityOptions = {
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, maximumAttempts: 8 },
};

/**
 * Finalize: publishes the disks, writes the descriptor and manifest and, for an
 * OVA, the archive. It writes to the output, so a cancellation waits until it has
 * stopped before cleanup runs. Heartbeats while it works.
 */
export const finalizeOptions: ActivityOptions = {
  ...controlOptions,
  startToCloseTimeout: '48 hours',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/**
 * Disk transfers: hours long, heartbeating every few seconds. A missed heartbeat
 * (killed worker) reschedules the attempt within 20 s, and it resumes from the last
 * heartbeat (a 2 TiB disk at 100 MB/s takes ~6 h: 48 h leaves room for slow links
 * and retries). LeaseLost (a lost export session) is handled by the workflow (it
 * reopens the session), so the activity itself does not retry it. No attempt
 * limit: SinkFull retries until space is freed, with the backoff capped at 30 s.
 */
export const transferOptions: ActivityOptions = {
  startToCloseTimeout: '48 hours',
  heartbeatTimeout: '20 seconds',
  // Cancel and failure wait until every transfer has stopped writing: cleanup
  // then removes files nobody writes to any more.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, ErrorType.LeaseLost] },
};

/** The export session's keep-alive loop: runs as long as the transfers. A lost session (LeaseLost) is the workflow's to reopen. */
export const keepAliveOptions: ActivityOptions = {
  startToCloseTimeout: '48 hours',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, ErrorType.LeaseLost] },
};
