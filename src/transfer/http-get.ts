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
// and later calls `body.resume()`: the buffer it lies in is held, and reads made
// meanwhile (TLS keeps delivering records it already decrypted) go to other
// buffers and wait their turn. Memory: READ_BUFFER_BYTES per transfer, plus one
// more per read that arrives while paused.
import { connect as netConnect, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { HTTPParser, type OnHeadersCompleteParser } from 'http-parser-js';
import { cancellation } from './cancellation.js';
import { normaliseThumbprint, peerMatchesThumbprint, THUMBPRINT_MISMATCH } from './tls-pinning.js';

/** Per read system call; TCP rarely hands over more at once, TLS gives 16 KiB records. */
const READ_BUFFER_BYTES = 256 * 1024;

export const HEADERS_TIMEOUT = 'ERR_HYPERSDK_HEADERS_TIMEOUT';
export const BODY_TIMEOUT = 'ERR_HYPERSDK_BODY_TIMEOUT';
export const BODY_TRUNCATED = 'ERR_HYPERSDK_BODY_TRUNCATED';
export const BAD_RESPONSE = 'ERR_HYPERSDK_BAD_RESPONSE';

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

/**
 * http-parser-js reads a chunk-size line with parseInt, so "zz" counts as the last
 * chunk and "5zz" as 5. A download must never take malformed framing for data:
 * check each size line before the parser's own state handler reads it.
 */
function strictChunkSizes(parser: InstanceType<typeof HTTPParser>): void {
  const p = parser as unknown as { BODY_CHUNKHEAD(): void; consumeLine(): string | undefined };
  const consumeLine = p.consumeLine.bind(p);
  const readSize = p.BODY_CHUNKHEAD.bind(p);
  p.BODY_CHUNKHEAD = () => {
    p.consumeLine = () => {
      const line = consumeLine();
      if (line !== undefined && !CHUNK_SIZE_LINE.test(line)) throw new Error(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
      return line;
    };
    try {
      readSize();
    } finally {
      p.consumeLine = consumeLine;
    }
  };
}

/** The parts of http-parser-js's state machine this client hooks into (http-parser.js). */
interface ParserInternals {
  state: string;
  offset: number;
  end: number;
  reinitialize(type: string): void;
  [state: string]: unknown;
}

/**
 * After a message completes, http-parser-js re-arms itself for the next one and
 * would parse whatever else arrives as another response (its head callbacks would
 * fire again). Bytes after the end of our response are not ours: once `over()`,
 * the parser is parked in a state that discards them.
 */
function parkAfterEnd(parser: InstanceType<typeof HTTPParser>, over: () => boolean): void {
  const p = parser as unknown as ParserInternals;
  const rearm = p.reinitialize.bind(p);
  p.reinitialize = (type: string) => {
    rearm(type);
    if (over()) p.state = 'AFTER_END';
  };
  p.AFTER_END = () => {
    p.offset = p.end;
  };
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
  /** Body views not yet delivered (before read(), or after the consumer paused). */
  private readonly pending: Buffer[] = [];
  private readonly buffers: Buffer[] = [];
  private readonly held = new Set<Buffer>();
  private lastRead: Buffer | undefined;
  private paused = false;
  /** The parser is inside an interim (1xx) response. */
  private interim = false;
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
    strictChunkSizes(p);
    parkAfterEnd(p, () => this.ended || this.finished);
    p[HTTPParser.kOnHeadersComplete] = (info: Parameters<OnHeadersCompleteParser>[0]) => {
      if (this.finished) return 1;
      if (info.statusCode === 101) {
        // We never ask to upgrade: what follows would not be HTTP at all.
        this.fail(codedError(BAD_RESPONSE, 'unexpected 101 Switching Protocols (no upgrade was requested)'));
        return 1;
      }
      if (info.statusCode >= 100 && info.statusCode < 200) {
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
      if (length === 0) return;
      const view = offset === 0 && length === chunk.length ? chunk : chunk.subarray(offset, offset + length);
      if (this.consumer && !this.paused) {
        if (!this.consumer.data(view)) this.pause();
      } else {
        this.pending.push(view);
        if (this.lastRead) this.held.add(this.lastRead);
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

  /** Memory for the next read: the last buffer again, unless views into it are still held. */
  private readBuffer(): Buffer {
    const last = this.lastRead;
    if (last && !this.held.has(last)) return last;
    const free = this.buffers.find((b) => !this.held.has(b));
    const next = free ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    if (!free) this.buffers.push(next);
    this.lastRead = next;
    return next;
  }

  private onRead(n: number, buf: Buffer): boolean {
    if (this.finished || n <= 0) return !this.paused;
    this.lastRead = buf;
    this.lastDataAt = performance.now();
    const err = this.parser.execute(buf, 0, n);
    if (this.finished) return false; // failed (a 101...) or done while parsing: the socket is gone
    // The parser may still complain about the bytes it already counted (finish()
    // after the end): nothing after the end is ours.
    if (err instanceof Error && !this.ended) {
      this.fail(codedError(BAD_RESPONSE, `malformed HTTP response: ${err.message}`, err));
      return false;
    }
    return !this.paused;
  }

  private pause(): void {
    this.paused = true;
    if (this.lastRead) this.held.add(this.lastRead);
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
    while (!this.paused && this.pending.length > 0) {
      if (!consumer.data(this.pending.shift()!)) this.paused = true;
    }
    if (this.paused) return;
    this.held.clear();
    if (this.maybeFinish()) return;
    this.socket?.resume();
  }

  private maybeFinish(): boolean {
    if (!this.ended || this.pending.length > 0 || !this.consumer || this.paused || this.finished) return false;
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
  }
}
