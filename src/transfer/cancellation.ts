// What an aborted transfer throws; shared by the engine and its HTTP client
// (a module of its own so that neither imports the other's error handling).

/** The error to throw when `signal` aborted the transfer: its reason (Temporal's CancelledFailure) when it is an Error. */
export function cancellation(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const e = new Error('transfer cancelled');
  e.name = 'AbortError';
  return e;
}
