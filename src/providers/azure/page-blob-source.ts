// An Azure page blob read through a SAS URL as an ExtentSource: the way Azure
// serves a managed disk or snapshot after GrantAccess, a fixed VHD (the disk's
// bytes, then a 512-byte footer). The blob's page ranges (Get Page Ranges) are
// the allocation map, every other byte is zero; reads are ranged GETs of
// allocated pages only (8 MiB at most by default). With verifyMd5 each read is of
// at most 4 MiB and checked against the MD5 the service computes for it
// (x-ms-range-get-content-md5): off by default, as in azcopy and the Azure SDK's
// downloads, since TLS already guards the bytes in transit and the MD5 costs the
// service and this process a hash of every byte (against Azurite it halved the
// throughput: bench/azure). Plain HTTP through one undici pool:
// @azure/storage-blob's current releases need Node 22.
//
// The footer is read at open and checked (cookie, checksum, fixed type, current
// size = blob size - 512); the disk is the blob without it, so raw and qcow2
// images never hold it.
//
// Access: `sas()` gives a URL (GrantAccess in the provider). It is asked again
// when the one in use is about to expire (expiresAt, or the SAS's own `se`) or a
// request is refused with 403 once it has expired: a long export renews its
// access and continues. One renewal at a time, shared by every read waiting on it.
// A 403 from a SAS that has not expired (revoked, for another blob, wrong key) is
// final: SourceRefused. The SAS query string is a secret: no message carries it.
//
// Page ranges are listed lazily, window by window of the disk (x-ms-range), and
// page by page within a window (maxresults/marker), so memory stays bounded on a
// disk with millions of ranges.
import { ApplicationFailure } from '@temporalio/common';
import { XMLParser } from 'fast-xml-parser';
import { createHash } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import { first, PooledGetter, type PooledAnswer } from '../../core/pooled-get.js';
import { ErrorType } from '../../core/errors.js';
import type { Extent, ExtentSource } from '../../core/extent-source.js';
import { redactUrl, redactUrlsInText } from '../../core/redact.js';
import { fixedVhdFooterProblem, VHD_FOOTER_SIZE } from '../../core/vhd-footer.js';

export interface SasGrant {
  url: string;
  /** When the SAS stops working, as the grantor knows it; the SAS's own `se`, if earlier, wins. */
  expiresAt?: Date;
}

export interface PageBlobSourceOptions {
  /** A read SAS URL of the blob: asked at open and whenever the one in use expires. */
  sas: () => Promise<SasGrant>;
  /** Ranged GETs in flight; default 16. */
  concurrency?: number;
  /** Longest ranged GET, a multiple of 512; default 8 MiB, or 4 MiB with verifyMd5 (the largest range Azure sends an MD5 for). */
  maxReadBytes?: number;
  /** Ask the service for each read's MD5 and check it (reads of at most 4 MiB); default false. */
  verifyMd5?: boolean;
  /** Page ranges asked per Get Page Ranges call (maxresults); default: the service's (up to 10,000). */
  pageRangePageSize?: number;
  /** Bytes of the disk each Get Page Ranges window covers (x-ms-range), a multiple of 512; default 8 GiB. */
  pageRangeWindowBytes?: number;
  /** A SAS is renewed this long before it expires; default 2 minutes. */
  renewBeforeMs?: number;
  /** Named in messages (a snapshot's name or id); default the blob's path. */
  name?: string;
}

/** The REST version the requests speak (Get Page Ranges with maxresults needs 2020-10-02 or later). */
export const AZURE_STORAGE_VERSION = '2021-08-06';
const MAX_MD5_RANGE = 4 * 2 ** 20;
const DEFAULT_READ = 8 * 2 ** 20;
const DEFAULT_WINDOW = 8 * 2 ** 30;
const BUSY_ATTEMPTS = 5;
const CLOCK_SKEW_MS = 5 * 60_000;
const BUSY_BASE_MS = 200;

interface Access {
  url: URL;
  expiresAt: number;
  /** When sas() gave it: a SAS is renewed early by at most half its lifetime. */
  grantedAt: number;
  generation: number;
}

interface PageRangePage {
  ranges: { start: number; end: number }[];
  nextMarker?: string;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'PageRange' || name === 'ClearRange',
});

export class PageBlobSource implements ExtentSource {
  readonly concurrency: number;
  readonly maxReadBytes: number;
  readonly where: string;
  /** How many times sas() was asked again after open (tests and logs). */
  renewals = 0;

  private access: Access;
  private renewing: Promise<Access> | undefined;
  private size = 0;
  private etag = '';
  private readonly getter: PooledGetter;

  private constructor(
    private readonly o: PageBlobSourceOptions,
    first: Access,
    private readonly agent: Dispatcher,
  ) {
    this.access = first;
    this.getter = new PooledGetter(agent, (o.concurrency ?? 16) * 2);
    this.concurrency = o.concurrency ?? 16;
    this.maxReadBytes = o.maxReadBytes ?? (o.verifyMd5 ? MAX_MD5_RANGE : DEFAULT_READ);
    this.where = whereOf(o, first.url);
  }

  /** The disk's size: the blob's less its VHD footer. */
  get sizeBytes(): number {
    return this.size;
  }

  /** Asks for access, the blob's size and ETag, and checks its VHD footer. */
  static async open(o: PageBlobSourceOptions): Promise<PageBlobSource> {
    const max = o.maxReadBytes ?? (o.verifyMd5 ? MAX_MD5_RANGE : DEFAULT_READ);
    if (!Number.isSafeInteger(max) || max <= 0 || max % 512 !== 0) throw new Error(`maxReadBytes must be a positive multiple of 512, not ${max}`);
    if (o.verifyMd5 && max > MAX_MD5_RANGE) throw new Error(`with verifyMd5, maxReadBytes must be at most 4 MiB (the largest range Azure sends an MD5 for), not ${max}`);
    const window = o.pageRangeWindowBytes ?? DEFAULT_WINDOW;
    if (!Number.isSafeInteger(window) || window <= 0 || window % 512 !== 0) throw new Error(`pageRangeWindowBytes must be a positive multiple of 512, not ${window}`);
    const agent = new Agent({ connections: Math.max(4, (o.concurrency ?? 16) + 2), pipelining: 1 });
    try {
      const source = new PageBlobSource(o, await grant(o, 0), agent);
      const blobSize = await source.properties();
      if (blobSize < VHD_FOOTER_SIZE || blobSize % 512 !== 0) {
        throw notADisk(`${source.where}: the blob is ${blobSize} bytes, not a fixed VHD (a whole number of 512-byte pages ending in a footer)`);
      }
      const footer = await source.readRange(blobSize - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE, new AbortController().signal);
      const problem = fixedVhdFooterProblem(footer, blobSize - VHD_FOOTER_SIZE);
      if (problem) throw notADisk(`${source.where}: not a fixed VHD: ${problem}`);
      source.size = blobSize - VHD_FOOTER_SIZE;
      return source;
    } catch (err) {
      await agent.close().catch(() => undefined);
      throw err;
    }
  }

  /** HEAD: the blob's size (returned) and ETag (kept); a blob other than a page blob is refused. */
  private async properties(): Promise<number> {
    const res = await this.send('read properties', () => ({ method: 'HEAD', query: {}, headers: {} }), new AbortController().signal, [200]);
    const type = header(res, 'x-ms-blob-type');
    if (type !== undefined && type !== 'PageBlob') throw notADisk(`${this.where}: the blob is a ${type}, not a page blob`);
    const size = Number(header(res, 'content-length'));
    if (!Number.isSafeInteger(size) || size < 0) throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message: `${this.where}: the blob's properties gave no size` });
    this.etag = header(res, 'etag') ?? '';
    return size;
  }

  identity(): { sizeBytes: number; etag: string } {
    return { sizeBytes: this.sizeBytes, etag: this.etag };
  }

  async *allocated(from: number, signal: AbortSignal): AsyncIterable<Extent> {
    const window = this.o.pageRangeWindowBytes ?? DEFAULT_WINDOW;
    let pending: Extent | undefined;
    for (let start = Math.floor(Math.max(0, from) / 512) * 512; start < this.sizeBytes; start += window) {
      const end = Math.min(this.sizeBytes, start + window); // exclusive; the footer is never listed
      let marker: string | undefined;
      let last = start;
      do {
        if (signal.aborted) return;
        const page = await this.pageRanges(start, end, marker, signal);
        for (const r of page.ranges) {
          const s = Math.max(r.start, start);
          const e = Math.min(r.end + 1, end);
          if (e <= s) continue;
          if (s < last) throw new Error(`${this.where}: Get Page Ranges answered out of order (a range at ${r.start} after one ending at ${last})`);
          last = e;
          // Ranges that touch (across windows or pages) become one extent.
          if (pending && pending.offset + pending.length === s) pending = { offset: pending.offset, length: e - pending.offset };
          else {
            if (pending) yield pending;
            pending = { offset: s, length: e - s };
          }
        }
        marker = page.nextMarker;
      } while (marker);
    }
    if (pending) yield pending;
  }

  async read(extent: Extent, signal: AbortSignal): Promise<Buffer> {
    if (extent.offset < 0 || extent.length <= 0 || extent.offset + extent.length > this.sizeBytes) {
      throw new Error(`${this.where}: read of [${extent.offset}, +${extent.length}) is outside the disk (${this.sizeBytes} bytes)`);
    }
    return this.readRange(extent.offset, extent.length, signal);
  }

  /** A buffer read returned, written now: the next read of its size reuses it. */
  recycle(data: Buffer): void {
    this.getter.recycle(data);
  }

  /** Closes the connections the reads keep open. */
  close(): Promise<void> {
    return this.agent.close();
  }

  private async readRange(offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
    const md5 = this.o.verifyMd5 === true;
    const res = await this.send(
      'read',
      () => ({ method: 'GET', query: {}, headers: { 'x-ms-range': `bytes=${offset}-${offset + length - 1}`, ...(md5 ? { 'x-ms-range-get-content-md5': 'true' } : {}) } }),
      signal,
      [200, 206],
      true,
    );
    const data = res.body;
    const range = `[${offset}, +${length})`;
    const served = header(res, 'content-range');
    if (res.statusCode === 206 && served !== undefined && !served.startsWith(`bytes ${offset}-${offset + length - 1}/`)) {
      throw retryable(`${this.where}: the read of ${range} was answered with the range ${served}`);
    }
    if (data.length !== length) throw retryable(`${this.where}: the read of ${range} returned ${data.length} bytes`);
    if (md5) {
      const sent = header(res, 'content-md5');
      if (!sent) throw retryable(`${this.where}: the read of ${range} came without the Content-MD5 it was asked for`);
      const actual = createHash('md5').update(data).digest('base64');
      if (actual !== sent) throw retryable(`${this.where}: the read of ${range} does not match its MD5 (${actual}, sent ${sent}); read again`);
    }
    return data;
  }

  private async pageRanges(start: number, end: number, marker: string | undefined, signal: AbortSignal): Promise<PageRangePage> {
    const res = await this.send(
      'list page ranges',
      () => ({
        method: 'GET',
        query: { comp: 'pagelist', ...(this.o.pageRangePageSize ? { maxresults: String(this.o.pageRangePageSize) } : {}), ...(marker ? { marker } : {}) },
        headers: { 'x-ms-range': `bytes=${start}-${end - 1}` },
      }),
      signal,
      [200],
    );
    return parsePageList(res.body.toString('utf8'), this.where);
  }

  /**
   * One request with the current SAS: renewed first when about to expire, and
   * once more when refused because it expired; 5xx and 503 ServerBusy are
   * retried with backoff; other refusals are final.
   */
  private async send(
    what: string,
    build: () => { method: 'GET' | 'HEAD'; query: Record<string, string>; headers: Record<string, string> },
    signal: AbortSignal,
    ok: number[],
    /** A read of the disk: its body goes into a pooled buffer (recycle). */
    pooled = false,
  ): Promise<PooledAnswer> {
    let renewedFor = -1;
    for (let attempt = 1; ; attempt++) {
      let access = this.access;
      // Early, but by at most half the SAS's lifetime: grants shorter than the margin are not renewed at every request.
      const early = Math.min(this.o.renewBeforeMs ?? 120_000, (access.expiresAt - access.grantedAt) / 2);
      if (access.expiresAt - early <= Date.now()) access = await this.renew(access);
      const spec = build();
      let res: PooledAnswer;
      const url = withQuery(access.url, spec.query);
      try {
        res = await this.getter.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: spec.method,
          headers: { 'x-ms-version': AZURE_STORAGE_VERSION, ...spec.headers },
          signal,
          pooled: (status) => pooled && ok.includes(status),
        });
      } catch (err) {
        if (signal.aborted) throw err;
        // undici's messages rarely quote the URL; when they do, never its query.
        throw retryable(`${this.where}: ${what}: ${redactUrlsInText(err instanceof Error ? err.message : String(err))}`);
      }
      if (ok.includes(res.statusCode)) return res;
      const body = res.body.toString('utf8');
      const code = header(res, 'x-ms-error-code') ?? xmlField(body, 'Code');
      const detail = xmlField(body, 'AuthenticationErrorDetail');
      if (res.statusCode === 403) {
        // Expired (by the clock, or as the service says): renew once for this request.
        // Clocks differ: a SAS within CLOCK_SKEW_MS of its expiry may already be over for the service.
        const expired = access.expiresAt - CLOCK_SKEW_MS <= Date.now() || /expir|time frame|not valid/i.test(detail ?? '');
        if (expired && renewedFor !== access.generation) {
          renewedFor = access.generation;
          await this.renew(access);
          continue;
        }
        throw ApplicationFailure.create({
          type: ErrorType.SourceRefused,
          message: `${this.where}: ${what} refused (403${code ? ` ${code}` : ''})${renewedFor >= 0 ? ' with a SAS just renewed' : ''}: the access was revoked, or the SAS is for another blob or not for reading${detail ? ` (${redactUrlsInText(detail).slice(0, 300)})` : ''}`,
          nonRetryable: true,
        });
      }
      if (res.statusCode === 404) {
        throw ApplicationFailure.create({ type: ErrorType.SourceRefused, message: `${this.where}: ${what}: the blob does not exist (404${code ? ` ${code}` : ''})`, nonRetryable: true });
      }
      const busy = res.statusCode >= 500 || res.statusCode === 429;
      if (busy && attempt < BUSY_ATTEMPTS && !signal.aborted) {
        // Full jitter: many reads backing off together must not come back together.
        await new Promise((r) => setTimeout(r, Math.random() * BUSY_BASE_MS * 2 ** attempt));
        continue;
      }
      const message = `${this.where}: ${what} answered ${res.statusCode}${code ? ` ${code}` : ''}`;
      if (busy) throw retryable(message);
      throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message, nonRetryable: res.statusCode === 400 || res.statusCode === 416 });
    }
  }

  /** A new SAS, unless another read already renewed the one `stale` was. */
  private async renew(stale: Access): Promise<Access> {
    if (this.access.generation !== stale.generation) return this.access;
    this.renewing ??= grant(this.o, stale.generation + 1)
      .then((fresh) => {
        this.renewals++;
        this.access = fresh;
        return fresh;
      })
      .finally(() => (this.renewing = undefined));
    return this.renewing;
  }
}

async function grant(o: PageBlobSourceOptions, generation: number): Promise<Access> {
  const g = await o.sas();
  let url: URL;
  try {
    url = new URL(g.url);
  } catch {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: 'the SAS given for the page blob is not a URL', nonRetryable: true });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `the SAS given for the page blob is not an HTTP(S) URL (${url.protocol})`, nonRetryable: true });
  }
  // The earlier of what the grantor says and what the SAS itself says (its `se`):
  // a SAS signed with a stored policy has no `se`, and one may end before the
  // duration asked for.
  const se = url.searchParams.get('se');
  const ends = [g.expiresAt?.getTime(), se ? Date.parse(se) : undefined].filter((t): t is number => t !== undefined && Number.isFinite(t));
  return { url, expiresAt: ends.length ? Math.min(...ends) : Infinity, grantedAt: Date.now(), generation };
}

function whereOf(o: PageBlobSourceOptions, url: URL): string {
  return o.name ? `page blob ${o.name}` : `page blob ${redactUrl(url)}`;
}

function withQuery(base: URL, query: Record<string, string>): URL {
  if (Object.keys(query).length === 0) return base;
  const u = new URL(base);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u;
}

function header(res: PooledAnswer, name: string): string | undefined {
  return first(res.headers[name]);
}

function xmlField(body: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(body);
  return m?.[1]?.trim();
}

function retryable(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.TransferFailed, message });
}

function notADisk(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.SourceNotADisk, message, nonRetryable: true });
}

/**
 * A Get Page Ranges answer: PageRange elements (Start, End inclusive, 512-aligned)
 * in increasing order, and a NextMarker when more follow. Anything else is refused.
 */
export function parsePageList(xml: string, where = 'page blob'): PageRangePage {
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    throw retryable(`${where}: Get Page Ranges answered with XML that does not parse (${(err as Error).message})`);
  }
  const list = (doc as { PageList?: unknown }).PageList;
  if (list === undefined) throw retryable(`${where}: Get Page Ranges answered without a PageList`);
  // An empty <PageList /> parses as "".
  const obj = (typeof list === 'object' && list !== null ? list : {}) as { PageRange?: unknown[]; NextMarker?: unknown };
  const ranges: { start: number; end: number }[] = [];
  let last = -1;
  for (const r of obj.PageRange ?? []) {
    const { Start, End } = (r ?? {}) as { Start?: unknown; End?: unknown };
    const start = toInt(Start);
    const end = toInt(End);
    if (start === undefined || end === undefined || end < start || start % 512 !== 0 || (end + 1) % 512 !== 0 || start <= last) {
      throw retryable(`${where}: Get Page Ranges answered a malformed or unordered range (${String(Start)}-${String(End)})`);
    }
    ranges.push({ start, end });
    last = end;
  }
  const next = typeof obj.NextMarker === 'string' && obj.NextMarker !== '' ? obj.NextMarker : undefined;
  return next ? { ranges, nextMarker: next } : { ranges };
}

function toInt(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}
