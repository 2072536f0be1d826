// Reading failures the way Temporal recommends: by their `type` string, walking
// the cause chain (ActivityFailure -> ApplicationFailure), never with instanceof.

interface FailureLike {
  type?: unknown;
  message?: unknown;
  cause?: unknown;
  details?: unknown;
  name?: unknown;
}

function* causeChain(err: unknown): Generator<FailureLike> {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current && typeof current === 'object'; depth++) {
    yield current;
    current = (current as FailureLike).cause;
  }
}

/** The first application failure type in the cause chain, if any. */
export function failureType(err: unknown): string | undefined {
  for (const f of causeChain(err)) if (typeof f.type === 'string' && f.type) return f.type;
  return undefined;
}

/** The details of the failure that carries `type`. */
export function failureDetails(err: unknown, type: string): unknown[] {
  for (const f of causeChain(err)) if (f.type === type && Array.isArray(f.details)) return f.details as unknown[];
  return [];
}

/**
 * The innermost meaningful message (the application's, not the wrapper's "Activity
 * task failed"): the innermost application failure's (one with a type) when there
 * is one, so that a failure the workflow raises about a timeout (WorkerLost) keeps
 * its own words over the server's "activity ScheduleToStart timeout" below it;
 * otherwise the innermost message at all.
 */
export function rootMessage(err: unknown): string {
  let message: string | undefined;
  let applicationMessage: string | undefined;
  for (const f of causeChain(err)) {
    if (typeof f.message !== 'string' || !f.message) continue;
    message = f.message;
    if (typeof f.type === 'string' && f.type) applicationMessage = f.message;
  }
  return applicationMessage ?? message ?? 'unknown error';
}
