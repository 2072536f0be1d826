import type { ActivityOptions } from '@temporalio/workflow';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../export/errors.js';

const retry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
} as const;

/** Short control-plane calls: describe, prepare (snapshot, power-off), lease open/complete, cleanup. */
export const controlOptions: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, maximumAttempts: 8 },
};

/**
 * Disk transfers: hours long, heartbeating every few seconds. A missed heartbeat
 * (killed worker) reschedules the attempt within 20 s, and it resumes from the last
 * heartbeat. LeaseLost is handled by the workflow (it reopens the lease), so the
 * activity itself does not retry it. No attempt limit: SinkFull retries until space
 * is freed, with the backoff capped at 30 s.
 */
export const transferOptions: ActivityOptions = {
  startToCloseTimeout: '48 hours',
  heartbeatTimeout: '20 seconds',
  retry: { ...retry, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, ErrorType.LeaseLost] },
};

/** The lease keep-alive loop: runs as long as the transfers. */
export const keepAliveOptions: ActivityOptions = {
  startToCloseTimeout: '48 hours',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, ErrorType.LeaseLost] },
};
