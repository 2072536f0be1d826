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

/** The innermost meaningful message (the application's, not the wrapper's "Activity task failed"). */
export function rootMessage(err: unknown): string {
  let message = 'unknown error';
  for (const f of causeChain(err)) if (typeof f.message === 'string' && f.message) message = f.message;
  return message;
}
