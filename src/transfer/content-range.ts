// Parsing of the HTTP headers that decide whether a ranged response may be appended
// to what we already have.

export interface ContentRange {
  /** undefined for the unsatisfied form "bytes * /total". */
  start?: number;
  end?: number;
  /** undefined when the server wrote "*" for the total. */
  total?: number;
}

const RANGE_RE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;
const UNSATISFIED_RE = /^bytes\s+\*\/(\d+)$/i;

export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const m = RANGE_RE.exec(v);
  if (m) {
    const start = Number(m[1]);
    const end = Number(m[2]);
    const total = m[3] === '*' ? undefined : Number(m[3]);
    if (end < start || (total !== undefined && end >= total)) return undefined;
    return { start, end, total };
  }
  const u = UNSATISFIED_RE.exec(v);
  if (u) return { total: Number(u[1]) };
  return undefined;
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
