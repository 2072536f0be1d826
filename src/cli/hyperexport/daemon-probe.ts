// Is a daemon answering at this URL? hyperexport falls back to exporting in this
// process only when nothing answers at all: a refused connection, a name that does
// not resolve, no answer in time. Any HTTP answer (even 401 or 500) or a TLS
// failure means a daemon is there, and its own error is the one to show.

// Connection errors that mean "no server there", as Node reports them (the cause's code).
const NOTHING_THERE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export type ProbeResult = { reachable: true } | { reachable: false; reason: string };

function causeCodes(err: unknown): string[] {
  const cause = (err as { cause?: { code?: unknown; errors?: { code?: unknown }[]; message?: unknown } }).cause;
  const codes = [cause?.code, ...(cause?.errors ?? []).map((e) => e.code)].filter((c): c is string => typeof c === 'string');
  // fetch refuses some ports outright ("bad port"): nothing can answer there either.
  if (cause?.message === 'bad port') codes.push('bad port');
  return codes;
}

export async function probeDaemon(url: string, timeoutMs = 3_000): Promise<ProbeResult> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return { reachable: true };
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { reachable: false, reason: `no answer in ${timeoutMs / 1000} s` };
    const codes = causeCodes(err);
    const nothing = codes.find((c) => NOTHING_THERE.has(c) || c === 'bad port');
    if (nothing) return { reachable: false, reason: nothing };
    // A TLS or protocol failure: something is listening; let the daemon client report it.
    return { reachable: true };
  }
}
