// Small helpers the compatibility judges share: a JSON client for a running
// hypervisord, bounded polling, Go duration strings, and the exported files' hashes.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { sha256File } from '../export/helpers.js';

export interface ApiAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** One request the way the Python SDK's requests.Session sends it (JSON body, JSON answer). */
export async function api(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const res = await request(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // left undefined: the caller's status/shape assertion shows the text
  }
  return { status: res.statusCode, body: parsed, text };
}

/** Polls `check` every `intervalMs` until it returns a value; fails after `timeoutMs` saying `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 90_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** Seconds in a Go duration string ("1m2.5s"); NaN when it is not one. */
export function goDurationSeconds(text: string): number {
  if (text === '0') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.replace(/^[-+]/, '');
  let total = 0;
  let rest = body;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest) {
    const m = part.exec(rest);
    if (!m) return NaN;
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return body ? sign * total : NaN;
}

/** SHA-256 of every .vmdk in `dir`, sorted, to compare with the VM's disk hashes. */
export async function vmdkHashes(dir: string): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.vmdk'));
  const hashes = await Promise.all(files.map((f) => sha256File(join(dir, f))));
  return hashes.sort();
}
