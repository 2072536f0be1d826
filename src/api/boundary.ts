// What a browser can make the gateway do: nothing. A web page can POST `text/plain`
// bodies (no CORS preflight) to http://localhost:8080 from any origin, and a
// DNS-rebinding page reaches it under its own host name. So:
// - a foreign Origin is refused (403) on every route;
// - without an API token, only loopback Host names (or daemon.allowed_hosts) are
//   served (403): a rebinding page's requests carry its own name;
// - bodies of POST/PUT/PATCH must be JSON or YAML (415): the content types a
//   browser may send cross-site without a preflight are not among them.
import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from './http-error.js';

export interface BoundaryOptions {
  /** With a token, the Host check is off (the token is what a browser cannot send). */
  token: boolean;
  /** Lower-case names without port. */
  allowedHosts: readonly string[];
  /** Normalised origins (URL.origin). */
  allowedOrigins: readonly string[];
}

/** localhost, 127.0.0.0/8 and ::1 (brackets optional), case-insensitive. */
export function isLoopbackName(hostname: string): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** The host name of a Host header value (port and IPv6 brackets removed), or undefined when it is not one. */
function hostnameOf(hostHeader: string): string | undefined {
  try {
    const url = new URL(`http://${hostHeader}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
    return url.hostname
      .replace(/^\[(.*)\]$/, '$1')
      .replace(/\.$/, '')
      .toLowerCase();
  } catch {
    return undefined;
  }
}

const printable = (value: string): string =>
  JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);

export function requestBoundary(options: BoundaryOptions): MiddlewareHandler {
  const hosts = new Set(options.allowedHosts.map((h) => h.replace(/^\[(.*)\]$/, '$1')));
  const origins = new Set(options.allowedOrigins);
  const hostAllowed = (name: string | undefined) =>
    name !== undefined && (isLoopbackName(name) || hosts.has(name));
  return async (c, next) => {
    const url = new URL(c.req.url);
    // The Host header is what a browser sends; the URL's host differs only for an
    // absolute request target, and then both must pass.
    const hostHeader = c.req.header('host');
    const host = hostHeader ?? url.host;
    if (!options.token) {
      if (!hostAllowed(hostnameOf(host)) || !hostAllowed(hostnameOf(url.host))) {
        throw new HttpError(
          403,
          `Host ${printable(host)} is not a loopback name: without an API token the gateway answers only localhost, 127.0.0.0/8 and [::1] (DNS-rebinding protection); list the name in daemon.allowed_hosts (HYPERSDK_ALLOWED_HOSTS) or set daemon.api_token`,
          { field: 'Host' },
        );
      }
    }
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      let normalised: string | undefined;
      try {
        normalised = new URL(origin).origin;
      } catch {
        normalised = undefined;
      }
      let own: string | undefined;
      try {
        own = new URL(`${url.protocol}//${host}`).origin;
      } catch {
        own = undefined;
      }
      const allowed =
        normalised !== undefined && normalised !== 'null' && (normalised === own || origins.has(normalised));
      if (!allowed) {
        throw new HttpError(
          403,
          `Origin ${printable(origin)} is not allowed: requests from web pages of other sites are refused; list the origin in daemon.allowed_origins (HYPERSDK_ALLOWED_ORIGINS) to allow it`,
          { field: 'Origin' },
        );
      }
    }
    return next();
  };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** application/json, application/yaml, application/x-yaml, text/yaml, text/x-yaml and any +json / +yaml type. */
export function isJsonOrYamlType(contentType: string): boolean {
  const essence = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    ['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'].includes(
      essence,
    ) || /^application\/[a-z0-9!#$&^_.-]+\+(json|yaml)$/.test(essence)
  );
}

export const ACCEPTED_BODY_TYPES =
  'application/json or application/yaml (also application/x-yaml, text/yaml, */*+json)';

/**
 * Non-empty POST/PUT/PATCH bodies must declare a JSON or YAML content type. An
 * empty body passes whatever its label (clients POST with no body where a request
 * has no parameters; undici labels an empty string text/plain): it carries nothing
 * a route could act on. Runs after the body limit, so reading a body is bounded.
 */
export function jsonOrYamlBodies(): MiddlewareHandler {
  return async (c, next) => {
    if (!BODY_METHODS.has(c.req.method)) return next();
    const contentType = c.req.header('content-type')?.trim() ?? '';
    if (contentType !== '' && isJsonOrYamlType(contentType)) return next();
    if (c.req.header('content-length') === '0' || (await c.req.text()) === '') return next();
    throw new HttpError(
      415,
      contentType === ''
        ? `Content-Type: missing; send the body as ${ACCEPTED_BODY_TYPES}`
        : `Content-Type: ${printable(contentType)} is not accepted; send the body as ${ACCEPTED_BODY_TYPES}`,
      { field: 'Content-Type' },
    );
  };
}
