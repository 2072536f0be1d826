// Bearer / X-API-Key token check. Required whenever the gateway listens beyond
// loopback, and whenever a token is configured. /health is always open.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from './http-error.js';

export function hostOf(addr: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(addr);
  if (bracketed) return bracketed[1]!;
  const colon = addr.lastIndexOf(':');
  return colon >= 0 ? addr.slice(0, colon) : addr;
}

export function isLoopbackAddr(addr: string): boolean {
  const host = hostOf(addr).toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenAuth(token: string | undefined, openPaths: ReadonlySet<string>): MiddlewareHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async (c, next) => {
    if (expected === undefined || openPaths.has(c.req.path)) return next();
    const header = c.req.header('authorization');
    const given = header?.match(/^Bearer\s+(.+)$/i)?.[1] ?? c.req.header('x-api-key');
    // Compare digests so that length differences leak nothing either.
    if (given === undefined || !timingSafeEqual(digest(given.trim()), expected)) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, given === undefined ? 'authentication required: send Authorization: Bearer <token> or X-API-Key' : 'invalid API token');
    }
    return next();
  };
}
