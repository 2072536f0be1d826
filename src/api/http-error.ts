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
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  // gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4), and the SDK's connection errors.
  return e.code === 14 || e.code === 4 || e.name === 'TransportError' || e.name === 'ServiceError';
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
    if (isUnavailable(err)) {
      log('warn', 'temporal unavailable', { path: c.req.path, reason: err.message });
      return c.json({ error: 'the Temporal service is unavailable; check temporal.address and that it is running', timestamp: now() }, 503);
    }
    // Logged for the operator; the client gets no internals.
    log('error', 'unhandled error', { path: c.req.path, method: c.req.method, error: err.name, message: err.message });
    return c.json({ error: 'internal error', timestamp: now() }, 500);
  };
}
