// Reads why a workflow ended from the failure chain. Branches on failure.type and
// class names the SDK guarantees, never on message text.
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure, WorkflowFailedError } from '@temporalio/client';

export interface JobFailure {
  type?: string;
  message: string;
}

export function failureOf(err: unknown): JobFailure {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  let application: ApplicationFailure | undefined;
  let first: unknown = cause;
  while (cause instanceof Error) {
    // The outermost: the workflow's own failure carries the root cause's type and
    // message plus what the export left behind (verified disks kept for a resubmit).
    if (cause instanceof ApplicationFailure && cause.type) application ??= cause;
    if (cause instanceof CancelledFailure) return { type: 'Cancelled', message: 'the export was cancelled' };
    if (cause instanceof TerminatedFailure) return { type: 'Terminated', message: `the export workflow was terminated${cause.message ? `: ${cause.message}` : ''}` };
    if (cause instanceof TimeoutFailure) return { type: 'Timeout', message: `the export timed out: ${cause.message}` };
    cause = cause.cause;
  }
  if (application) return { type: application.type ?? undefined, message: application.message };
  if (first instanceof Error) return { message: first.message };
  first = undefined;
  return { message: 'the export failed' };
}
