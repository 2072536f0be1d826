// A disk served over HTTP(S) with Range support, read as extents: each piece is
// one ranged GET (http-get.ts) on its own connection, `concurrency` at a time.
// The allocation map, when the provider knows one, comes from elsewhere (an API
// call); without one the whole disk is one extent.
//
// Every response must be a 206 whose Content-Range is exactly the piece asked
// for and whose total is the disk's size, with the same ETag / Last-Modified as
// the first response: a server that ignores Range (200) cannot be read this way
// (final SourceRefused: use the streaming engine), and a source that changes
// under the transfer fails with SourceChanged.
import { ErrorType } from '../core/errors.js';
import { headerValue, parseContentRange } from './content-range.js';
import { failure, redactUrl } from './failures.js';
import { httpGet } from './http-get.js';
import { identityMismatch } from './source-identity.js';
import type { Extent, ExtentSource } from '../core/extent-source.js';
import type { SourceIdentity } from './types.js';
import type { DiskSource } from '../core/source-provider.js';

export interface HttpExtentSourceOptions {
  source: DiskSource;
  sizeBytes: number;
  /** Extents holding data, in increasing order; absent: the whole disk. */
  allocation?: Extent[];
  /** Default 4. */
  concurrency?: number;
  /** Default 8 MiB. */
  maxReadBytes?: number;
  insecure?: boolean;
  /** No response head within this time → retryable failure. Default 60 s. */
  headersTimeoutMs?: number;
  /** No body bytes for this long → retryable failure. Default 60 s. */
  stallTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class HttpExtentSource implements ExtentSource {
  readonly sizeBytes: number;
  readonly concurrency: number;
  readonly maxReadBytes: number;
  readonly where: string;
  private seen: SourceIdentity | undefined;

  constructor(private readonly o: HttpExtentSourceOptions) {
    this.sizeBytes = o.sizeBytes;
    this.concurrency = o.concurrency ?? 4;
    this.maxReadBytes = o.maxReadBytes ?? 8 * 1024 * 1024;
    this.where = redactUrl(o.source.url);
  }

  identity(): SourceIdentity {
    return this.seen ?? { sizeBytes: this.sizeBytes };
  }

  async *allocated(from: number): AsyncIterable<Extent> {
    await Promise.resolve();
    if (!this.o.allocation) {
      if (from < this.sizeBytes) yield { offset: from, length: this.sizeBytes - from };
      return;
    }
    for (const e of this.o.allocation) {
      if (e.offset + e.length > this.sizeBytes) throw new Error(`allocation map: extent at ${e.offset} of ${e.length} bytes runs past the disk's ${this.sizeBytes}`);
      if (e.offset + e.length > from) yield e;
    }
  }

  async read(extent: Extent, signal: AbortSignal): Promise<Buffer> {
    const last = extent.offset + extent.length - 1;
    const res = await httpGet({
      url: this.o.source.url,
      headers: { ...this.o.source.headers, range: `bytes=${extent.offset}-${last}` },
      signal,
      insecure: this.o.insecure,
      sslThumbprint: this.o.source.sslThumbprint,
      headersTimeoutMs: this.o.headersTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      bodyTimeoutMs: this.o.stallTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    try {
      if (res.statusCode === 200) {
        throw failure(ErrorType.SourceRefused, `${this.where} ignores Range (HTTP 200 to a ranged GET): it cannot be read by extents`, true);
      }
      if (res.statusCode !== 206) throw failure(ErrorType.TransferFailed, `${this.where}: HTTP ${res.statusCode} to bytes ${extent.offset}-${last}`);
      const cr = parseContentRange(headerValue(res.headers, 'content-range'));
      if (cr?.start !== extent.offset || cr.end !== last) {
        throw failure(ErrorType.TransferFailed, `${this.where}: asked for bytes ${extent.offset}-${last}, got Content-Range ${headerValue(res.headers, 'content-range')}`);
      }
      if (cr.total !== undefined && cr.total !== this.sizeBytes) {
        throw failure(ErrorType.SizeMismatch, `${this.where}: the source is ${cr.total} bytes, the disk ${this.sizeBytes}`, true);
      }
      this.checkIdentity(res.headers);
    } catch (err) {
      res.body.destroy();
      throw err;
    }
    const out = Buffer.allocUnsafe(extent.length);
    let filled = 0;
    let overran = false;
    await res.body.read({
      data: (view) => {
        if (filled + view.length > out.length) {
          overran = true;
          res.body.destroy();
          return false;
        }
        filled += view.copy(out, filled);
        return true;
      },
    });
    if (overran) throw failure(ErrorType.TransferFailed, `${this.where}: more than the ${extent.length} bytes asked for at ${extent.offset}`);
    if (filled !== extent.length) throw failure(ErrorType.TransferFailed, `${this.where}: bytes ${extent.offset}-${last} ended after ${filled} bytes`);
    return out;
  }

  private checkIdentity(headers: Record<string, string>): void {
    const now: SourceIdentity = { sizeBytes: this.sizeBytes };
    const etag = headerValue(headers, 'etag');
    const lastModified = headerValue(headers, 'last-modified');
    if (etag) now.etag = etag;
    if (lastModified) now.lastModified = lastModified;
    if (!this.seen) {
      this.seen = now;
      return;
    }
    const changed = identityMismatch(this.seen, now);
    if (changed) throw failure(ErrorType.SourceChanged, `${this.where} changed during the transfer (${changed})`);
  }
}
