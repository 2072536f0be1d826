// One HTTP/1.1 GET whose body is read into reused memory: the transfer engine's
// download path (HTTP or HTTPS, Range, thumbprint pinning, timeouts, abort).
//
// Why not undici here (it remains the SOAP client): undici reads sockets through
// Node streams, and every read (≤ 64 KiB) allocates a fresh Buffer that becomes
// garbage. On the 2-core reference machine that cost ~1.4 core-seconds per 2 GiB
// received (allocation, page faults, GC, stream bookkeeping) against ~0.45 with
// `net`'s `onread` option, which reads into memory we hand out and reuse
// (bench/transfer.ts; figures in docs/PERFORMANCE.md). Response framing (status
// line, headers, Content-Length / chunked / close-delimited bodies) is parsed by
// http-parser-js, which hands out views of the body without copying.
//
// Reading model: `body.read(consumer)` calls `consumer.data(view)` with views of
// the read buffers. A view stays valid until the consumer returns false (pause)
// and later calls `body.resume()`: the buffer it lies in is held, and the socket
// stops reading. Reads that still arrive (TLS delivers every record it already
// decrypted) go behind the held bytes, then to other buffers, and wait their turn.
//
// Memory is bounded whatever the server sends: at most MAX_READ_BUFFERS read
// buffers (one in steady state), a response head of at most MAX_HEAD_BYTES, at
// most MAX_INTERIM_RESPONSES interim responses, chunk lines and trailers capped
// (the parser accumulates a line until its LF arrives, so an endless line would
// otherwise grow without end).
import { connect as netConnect, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { HTTPParser, type OnHeadersCompleteParser } from 'http-parser-js';
import { cancellation } from './cancellation.js';
import { normaliseThumbprint, peerMatchesThumbprint, THUMBPRINT_MISMATCH } from './tls-pinning.js';

/** Per read system call; TCP rarely hands over more at once, TLS gives 16 KiB records. */
const READ_BUFFER_BYTES = 256 * 1024;
/**
 * Read buffers per exchange. Once the consumer pauses, the socket stops reading and
 * only what TLS already decrypted (one TCP read, ≤ 64 KiB) still arrives; it is
 * packed behind the held bytes, so two buffers are all a pause ever took here.
 */
const MAX_READ_BUFFERS = 4;
/** A held buffer's free tail smaller than this is not worth a read (TLS records are ≤ 16 KiB). */
const MIN_TAIL_BYTES = 16 * 1024;
/** Status line + header fields of one response (http-parser-js alone counts whole reads). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** 100 Continue, 103 Early Hints...: a server that never sends the real response is refused. */
export const MAX_INTERIM_RESPONSES = 10;
/** A chunk-size line with its extensions, and the line ending a chunk's data. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** All trailer fields after the last chunk. */
const MAX_TRAILER_BYTES = 16 * 1024;
/** Where reads land after the exchange is over (a destroyed TLS socket may still deliver): never read. */
const DISCARD = Buffer.allocUnsafeSlow(MIN_TAIL_BYTES);

export const HEADERS_TIMEOUT = 'ERR_HYPERSDK_HEADERS_TIMEOUT';
export const BODY_TIMEOUT = 'ERR_HYPERSDK_BODY_TIMEOUT';
export const BODY_TRUNCATED = 'ERR_HYPERSDK_BODY_TRUNCATED';
export const BAD_RESPONSE = 'ERR_HYPERSDK_BAD_RESPONSE';
/** More reads arrived while paused than MAX_READ_BUFFERS can hold (Node delivering after readStop). */
export const READ_BUFFERS_EXHAUSTED = 'ERR_HYPERSDK_READ_BUFFERS_EXHAUSTED';

export interface HttpGetOptions {
  url: string;
  headers?: Record<string, string>;
  signal: AbortSignal;
  /** HTTPS without certificate verification. */
  insecure?: boolean;
  /** SHA-1 or SHA-256 of the server certificate: pins it (the CA chain is then not required). */
  sslThumbprint?: string;
  /** No complete response head within this time → an error with code HEADERS_TIMEOUT. */
  headersTimeoutMs: number;
  /** No body bytes for this long while the consumer is reading → an error with code BODY_TIMEOUT. */
  bodyTimeoutMs: number;
}

export interface BodyConsumer {
  /** A piece of the body; return false to pause (the view stays valid until resume()). */
  data(view: Buffer): boolean;
}

export interface HttpResponse {
  statusCode: number;
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: HttpBody;
}

export interface HttpBody {
  /** Delivers the body to `consumer`; resolves at its end, rejects on a network or framing error. */
  read(consumer: BodyConsumer): Promise<void>;
  /** Continues after the consumer paused. */
  resume(): void;
  /** Closes the connection (the rest of the body is not wanted); a pending read() resolves. */
  destroy(): void;
}

function codedError(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/** The request head; header values come from our callers, but CR/LF in them would split the request. */
function requestHead(url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
  const own = { 'user-agent': 'hypersdk', 'accept-encoding': 'identity', connection: 'close' };
  for (const [name, value] of Object.entries({ ...own, ...headers })) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new TypeError(`invalid HTTP header ${JSON.stringify(name)}`);
    }
    if (name.toLowerCase() !== 'host') lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function headerRecord(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

const CONTENT_LENGTH = /^\d{1,15}$/;

/**
 * The one Content-Length of a head, or an error. http-parser-js reads the field
 * with unary plus, so "abc" or "10, 10" frame the body as NaN bytes, which ends it
 * at once with nothing: an empty body that looks complete. Digits only; repeated
 * fields must agree (RFC 9112 §6.3).
 */
function contentLengthOf(flat: string[]): string | undefined | Error {
  let value: string | undefined;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (flat[i]!.toLowerCase() !== 'content-length') continue;
    const v = flat[i + 1]!;
    if (!CONTENT_LENGTH.test(v) || (value !== undefined && v !== value)) {
      return new Error(`invalid Content-Length ${JSON.stringify(v.slice(0, 40))}`);
    }
    value = v;
  }
  return value;
}

const CHUNK_SIZE_LINE = /^[0-9A-Fa-f]{1,13}[ \t]*(;.*)?$/;

/** The parts of http-parser-js's state machine this client hooks into (http-parser.js). */
interface ParserInternals {
  state: string;
  offset: number;
  end: number;
  /** The part of a line received so far (before its LF). */
  line: string;
  maxHeaderSize: number;
  consumeLine(): string | undefined;
  reinitialize(type: string): void;
  [state: string]: unknown;
}

function lineError(what: string, limit: number): Error {
  return new Error(`${what} longer than ${limit} bytes`);
}

/**
 * Makes http-parser-js strict and bounded where it is neither, by checking each
 * line as its state handlers consume it (once per head line or chunk, never per
 * body byte):
 * - it reads a chunk-size line with parseInt, so "zz" counted as the last chunk
 *   and "5zz" as 5: a download must never take malformed framing for data;
 * - it accumulates a line until its LF, and caps only head lines (by whole reads):
 *   an endless chunk extension, chunk ending or trailer grew without bound. Head,
 *   chunk lines and trailers are capped here (MAX_HEAD_BYTES, ...);
 * - after a message it re-arms for the next one and would parse whatever else
 *   arrives as another response (its head callbacks firing again). Bytes after the
 *   end of our response are not ours: once `over()`, the parser is parked in a
 *   state that discards them.
 */
function guardParser(parser: InstanceType<typeof HTTPParser>, over: () => boolean): void {
  const p = parser as unknown as ParserInternals;
  const consumeLine = p.consumeLine.bind(p);
  const rearm = p.reinitialize.bind(p);
  let headBytes = 0;
  let trailerBytes = 0;
  // Ours is the one head limit, counted per response (the parser's counts whole reads).
  p.maxHeaderSize = Number.MAX_SAFE_INTEGER;
  p.consumeLine = () => {
    const state = p.state;
    const line = consumeLine();
    // A complete line (with its CRLF), or what of an unfinished one is buffered.
    const done = line === undefined ? 0 : line.length + 2;
    const partial = line === undefined ? p.line.length : 0;
    switch (state) {
      case 'RESPONSE_LINE':
      case 'HEADER':
        headBytes += done;
        if (headBytes + partial > MAX_HEAD_BYTES) throw lineError('response head', MAX_HEAD_BYTES);
        break;
      case 'BODY_CHUNKTRAILERS':
        trailerBytes += done;
        if (trailerBytes + partial > MAX_TRAILER_BYTES) throw lineError('trailer section', MAX_TRAILER_BYTES);
        break;
      case 'BODY_CHUNKHEAD':
        if (done + partial > MAX_CHUNK_LINE_BYTES) throw lineError('chunk size line', MAX_CHUNK_LINE_BYTES);
        if (line !== undefined && !CHUNK_SIZE_LINE.test(line)) throw new Error(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        break;
      case 'BODY_CHUNKEMPTYLINE':
        // Must be empty (the parser says so once the LF comes): no need to wait that long.
        if (done + partial > MAX_CHUNK_LINE_BYTES) throw lineError('line after chunk data', MAX_CHUNK_LINE_BYTES);
        break;
    }
    return line;
  };
  p.reinitialize = (type: string) => {
    rearm(type);
    p.maxHeaderSize = Number.MAX_SAFE_INTEGER;
    headBytes = 0;
    trailerBytes = 0;
    if (over()) p.state = 'AFTER_END';
  };
  p.AFTER_END = () => {
    p.offset = p.end;
  };
}

/** Test hook: how many read buffers an exchange has allocated (its memory, in READ_BUFFER_BYTES). */
export function readBuffersAllocated(body: HttpBody): number {
  return body instanceof Exchange ? body.buffersAllocated : 0;
}

/** Sends the GET and resolves once the response head has arrived. */
export function httpGet(options: HttpGetOptions): Promise<HttpResponse> {
  return new Exchange(options).start();
}

class Exchange implements HttpBody {
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private socket: Socket | TLSSocket | undefined;
  private head: { resolve(r: HttpResponse): void; reject(e: Error): void } | undefined;
  private done: { resolve(): void; reject(e: Error): void } | undefined;
  private consumer: BodyConsumer | undefined;
  /** Body views not yet delivered (before read(), or after the consumer paused), from pendingAt on. */
  private readonly pending: Buffer[] = [];
  private pendingAt = 0;
  /** Read buffers, at most MAX_READ_BUFFERS, allocated as pauses need them. */
  private readonly buffers: Buffer[] = [];
  /** Buffers that pending views lie in: not read into again until the consumer took them. */
  private readonly held = new Set<Buffer>();
  /** The buffer the last read went into, and where in it that read ended. */
  private lastBuffer: Buffer | undefined;
  private lastEnd = 0;
  private paused = false;
  /** The parser is inside an interim (1xx) response. */
  private interim = false;
  private interimResponses = 0;
  private ended = false;
  private failure: Error | undefined;
  private finished = false;
  private headTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastDataAt = 0;
  private readonly onAbort = (): void => this.fail(cancellation(this.options.signal));

  constructor(private readonly options: HttpGetOptions) {}

  start(): Promise<HttpResponse> {
    const { signal } = this.options;
    if (signal.aborted) return Promise.reject(cancellation(signal));
    const url = new URL(this.options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`));
    let head: string;
    let pinned: string | undefined;
    try {
      head = requestHead(url, this.options.headers ?? {});
      pinned = this.options.sslThumbprint ? normaliseThumbprint(this.options.sslThumbprint) : undefined;
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const promise = new Promise<HttpResponse>((resolve, reject) => (this.head = { resolve, reject }));
    this.setUpParser();
    signal.addEventListener('abort', this.onAbort, { once: true });
    this.headTimer = setTimeout(
      () => this.fail(codedError(HEADERS_TIMEOUT, `no response within ${this.options.headersTimeoutMs} ms`)),
      this.options.headersTimeoutMs,
    );

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const onread: OnReadOpts = { buffer: () => this.readBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) };
    let socket: Socket | TLSSocket;
    if (url.protocol === 'https:') {
      // `onread` works for TLS sockets too (Node ≥ 14), though @types/node lists it for net only.
      const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = {
        host,
        port: Number(url.port || 443),
        servername: isIP(host) ? undefined : host,
        rejectUnauthorized: !this.options.insecure && pinned === undefined,
        onread,
      };
      const tls = tlsConnect(tlsOptions);
      tls.once('secureConnect', () => {
        if (pinned !== undefined && !peerMatchesThumbprint(tls, pinned)) {
          this.fail(codedError(THUMBPRINT_MISMATCH, `server certificate does not match the pinned thumbprint ${pinned}`));
          return;
        }
        tls.write(head);
      });
      socket = tls;
    } else {
      socket = netConnect({ host, port: Number(url.port || 80), onread });
      socket.once('connect', () => socket.write(head));
    }
    this.socket = socket;
    socket.on('error', (err: Error) => this.fail(err));
    socket.once('end', () => this.onEof());
    socket.once('close', () => {
      // After the body's end the server closing is expected (views may still wait for the consumer).
      if (!this.ended) this.fail(codedError(BODY_TRUNCATED, 'connection closed before the end of the response'));
    });
    return promise;
  }

  private setUpParser(): void {
    const p = this.parser;
    guardParser(p, () => this.ended || this.finished);
    p[HTTPParser.kOnHeadersComplete] = (info: Parameters<OnHeadersCompleteParser>[0]) => {
      if (this.finished) return 1;
      if (info.statusCode === 101) {
        // We never ask to upgrade: what follows would not be HTTP at all.
        this.fail(codedError(BAD_RESPONSE, 'unexpected 101 Switching Protocols (no upgrade was requested)'));
        return 1;
      }
      if (info.statusCode >= 100 && info.statusCode < 200) {
        if (++this.interimResponses > MAX_INTERIM_RESPONSES) {
          this.fail(codedError(BAD_RESPONSE, `more than ${MAX_INTERIM_RESPONSES} interim responses`));
          return 1;
        }
        // An interim response (100 Continue, 103 Early Hints...) ends with its head,
        // whatever its headers claim (RFC 9110 §15.2): skipBody makes the parser
        // complete it at once and re-arm for the real response, which follows.
        this.interim = true;
        return 1;
      }
      const contentLength = contentLengthOf(info.headers);
      if (contentLength instanceof Error) {
        this.fail(codedError(BAD_RESPONSE, `malformed HTTP response: ${contentLength.message}`));
        return 1;
      }
      const headers = headerRecord(info.headers);
      // Repeated equal fields count once (not "10, 10").
      if (contentLength !== undefined) headers['content-length'] = contentLength;
      clearTimeout(this.headTimer);
      // Nothing is read past the head until read() attaches a consumer (backpressure from the start).
      this.pause();
      this.lastDataAt = performance.now();
      this.armStallTimer(this.options.bodyTimeoutMs);
      const head = this.head;
      this.head = undefined;
      head?.resolve({ statusCode: info.statusCode, headers, body: this });
    };
    p[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => {
      // After destroy() (a consumer may call it from data()) the rest of the read is not wanted.
      if (length === 0 || this.finished) return;
      const view = offset === 0 && length === chunk.length ? chunk : chunk.subarray(offset, offset + length);
      if (this.consumer && !this.paused) {
        if (!this.consumer.data(view)) this.pause();
      } else {
        this.pending.push(view);
        if (this.lastBuffer) this.held.add(this.lastBuffer);
      }
    };
    p[HTTPParser.kOnMessageComplete] = () => {
      if (this.interim) {
        // The end of an interim response, not of ours: keep waiting for the real head.
        this.interim = false;
        return;
      }
      if (this.finished) return;
      this.ended = true;
      this.maybeFinish();
    };
  }

  get buffersAllocated(): number {
    return this.buffers.length;
  }

  /**
   * Memory for the next read (Node asks after every read). Steady state: the last
   * buffer again from its start, as nothing in it waits. While views wait in it
   * (the consumer paused), a read that still arrives goes behind them, else into a
   * buffer nothing waits in; never more than MAX_READ_BUFFERS.
   */
  private readBuffer(): Buffer {
    const last = this.lastBuffer;
    if (last && !this.held.has(last)) return last;
    if (this.finished) return DISCARD;
    if (last && last.length - this.lastEnd >= MIN_TAIL_BYTES) return last.subarray(this.lastEnd);
    const free = this.buffers.find((b) => !this.held.has(b));
    if (free) return free;
    if (this.buffers.length < MAX_READ_BUFFERS) {
      const next = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
      this.buffers.push(next);
      return next;
    }
    // Cannot happen with Node's readStop (see MAX_READ_BUFFERS); if it ever does,
    // fail (retryable) rather than grow or overwrite bytes still waiting.
    this.fail(codedError(READ_BUFFERS_EXHAUSTED, `more than ${MAX_READ_BUFFERS} read buffers of data arrived while the consumer was paused`));
    return DISCARD;
  }

  private onRead(n: number, buf: Buffer): boolean {
    if (this.finished || n <= 0) return !this.paused;
    // A read into a held buffer's tail is a view of it: the buffer is what is held.
    const buffer = buf.length === READ_BUFFER_BYTES ? buf : (this.buffers.find((b) => b.buffer === buf.buffer) ?? buf);
    this.lastBuffer = buffer;
    this.lastEnd = buf.byteOffset - buffer.byteOffset + n;
    this.lastDataAt = performance.now();
    const err = this.parser.execute(buf, 0, n);
    if (this.finished) return false; // failed (a 101...) or done while parsing: the socket is gone
    // The parser may still complain about the bytes it already counted (finish()
    // after the end): nothing after the end is ours.
    if (err instanceof Error && !this.ended) {
      this.fail(codedError(BAD_RESPONSE, `malformed HTTP response: ${err.message}`, err));
      return false;
    }
    // false stops reading the socket (Node's readStop, what socket.pause() does for
    // an onread socket) until drain() resumes it: a paused consumer holds the server
    // back by TCP flow control, not by our memory.
    return !this.paused;
  }

  private pause(): void {
    this.paused = true;
    if (this.lastBuffer) this.held.add(this.lastBuffer);
  }

  private onEof(): void {
    if (this.finished || this.ended) return;
    // A close-delimited body ends here; a sized or chunked one was cut short.
    const err = this.parser.finish();
    if (err instanceof Error || !this.ended) this.fail(codedError(BODY_TRUNCATED, 'connection closed before the end of the response'));
  }

  read(consumer: BodyConsumer): Promise<void> {
    if (this.consumer) return Promise.reject(new Error('body already being read'));
    this.consumer = consumer;
    const promise = new Promise<void>((resolve, reject) => (this.done = { resolve, reject }));
    if (this.failure) this.done?.reject(this.failure);
    else this.resume();
    return promise;
  }

  resume(): void {
    if (!this.paused || this.finished) return;
    this.paused = false;
    this.lastDataAt = performance.now();
    this.drain();
  }

  /** Delivers pending views until the consumer pauses; then lets the socket read again. */
  private drain(): void {
    const consumer = this.consumer;
    if (!consumer) return;
    // An index, not shift(): a paused read of tiny chunks can queue thousands of views.
    while (!this.paused && this.pendingAt < this.pending.length) {
      if (!consumer.data(this.pending[this.pendingAt++]!)) this.paused = true;
    }
    if (this.paused) return;
    this.pending.length = 0;
    this.pendingAt = 0;
    this.held.clear();
    if (this.maybeFinish()) return;
    this.socket?.resume();
  }

  private maybeFinish(): boolean {
    if (!this.ended || this.pendingAt < this.pending.length || !this.consumer || this.paused || this.finished) return false;
    this.cleanUp();
    this.done?.resolve();
    return true;
  }

  private armStallTimer(ms: number): void {
    this.stallTimer = setTimeout(() => {
      const idle = performance.now() - this.lastDataAt;
      const limit = this.options.bodyTimeoutMs;
      // A consumer that paused is not a stalled source.
      if (this.paused || idle < limit) this.armStallTimer(this.paused ? limit : limit - idle);
      else this.fail(codedError(BODY_TIMEOUT, `no body data for ${limit} ms`));
    }, ms);
  }

  destroy(): void {
    if (this.finished) return;
    this.cleanUp();
    this.done?.resolve();
  }

  private fail(err: Error): void {
    if (this.finished) return;
    this.cleanUp();
    this.failure = err;
    if (this.head) this.head.reject(err);
    else this.done?.reject(err);
  }

  private cleanUp(): void {
    this.finished = true;
    clearTimeout(this.headTimer);
    clearTimeout(this.stallTimer);
    this.options.signal.removeEventListener('abort', this.onAbort);
    this.socket?.destroy();
    this.pending.length = 0;
    this.pendingAt = 0;
  }
}
