// One error type for every HTTP failure the gateway reports on purpose, and one
// mapping (app.onError) that turns anything thrown into `{error, timestamp}`.
// Unexpected errors become a generic 500 without a stack trace or internals.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    /** Extra fields merged into the JSON body (e.g. `field`, `errors`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badRequest = (field: string, reason: string, extra: Record<string, unknown> = {}): HttpError =>
  new HttpError(400, `${field}: ${reason}`, { field, ...extra });

export const notFound = (what: string): HttpError => new HttpError(404, what);

export function now(): string {
  return new Date().toISOString();
}

/** True for errors that mean "Temporal is not reachable" rather than a bad request. */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown };
  // gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4), and the SDK's transport errors.
  // A ServiceError only when its gRPC cause says so: Temporal refusing a request
  // (INVALID_ARGUMENT) is not an outage.
  const code = grpcCode(err);
  return code === 14 || code === 4 || e.name === 'TransportError' || (e.name === 'ServiceError' && code === undefined);
}

/** The gRPC status code of an error or of its cause (the SDK wraps them in ServiceError). */
function grpcCode(err: unknown): number | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** gRPC INVALID_ARGUMENT (3): Temporal refused what the client sent. */
function isRejectedByTemporal(err: unknown): boolean {
  return grpcCode(err) === 3;
}

export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export function errorHandler(log: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof HttpError) {
      return c.json({ error: err.message, ...err.extra, timestamp: now() }, err.status);
    }
    if (err instanceof HTTPException) {
      return c.json({ error: err.message || 'request rejected', timestamp: now() }, err.status);
    }
    if (isRejectedByTemporal(err)) {
      return c.json({ error: `rejected by Temporal: ${err.message}`, timestamp: now() }, 400);
    }
    if (isUnavailable(err)) {
      log('warn', 'temporal unavailable', { path: c.req.path, reason: err.message });
      return c.json({ error: 'the Temporal service is unavailable; check temporal.address and that it is running', timestamp: now() }, 503);
    }
    // Logged for the operator; the client gets no internals.
    log('error', 'unhandled error', { path: c.req.path, method: c.req.method, error: err.name, message: err.message });
    return c.json({ error: 'internal error', timestamp: now() }, 500);
  };
}
