// An HTTP relay in front of Azurite that records what an export asked of a blob:
// every ranged GET of its bytes (x-ms-range, no comp=) with the status and the
// bytes served, and every Get Page Ranges call. How a test sees that only
// allocated pages were fetched, without asking the code under test. Everything
// passes through untouched. It can hold each ranged read for a while (a transfer
// slow enough for a SAS to expire in it), answer every other read 503 ServerBusy, and flip a byte in the first reads of
// an offset while keeping their Content-MD5 (a read corrupted on the way).
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlobRead {
  /** The blob's path, /<account>/<container>/<blob>. */
  path: string;
  start: number;
  end: number;
  status: number;
  /** Bytes of the answer's body that reached the client. */
  bytes: number;
}

export interface BlobCounter {
  /** http://127.0.0.1:<port>: the blob endpoint's host to use instead of Azurite's. */
  origin: string;
  reads(path?: string): BlobRead[];
  pageListCalls(path?: string): number;
  reset(): void;
  close(): Promise<void>;
}

export interface BlobCounterOptions {
  /** Holds every ranged read this long before relaying it. */
  readDelayMs?: number;
  /** The first `times` successful ranged reads starting at `start` arrive with one byte flipped (and the true Content-MD5). */
  corrupt?: { start: number; times: number };
  /** Every other ranged read, N in all, is answered 503 ServerBusy by the relay itself (a throttled account). */
  busyReads?: number;
}

export async function startBlobCounter(target: string, options: BlobCounterOptions = {}): Promise<BlobCounter> {
  const upstream = new URL(target);
  let reads: BlobRead[] = [];
  let lists: string[] = [];
  let corrupt = options.corrupt?.times ?? 0;
  let busy = options.busyReads ?? 0;
  let arrivals = 0;
  const relay = (req: IncomingMessage, res: ServerResponse, read?: Omit<BlobRead, 'status' | 'bytes'>): void => {
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const status = answer.statusCode ?? 502;
      if (!read) {
        res.writeHead(status, answer.headers);
        answer.pipe(res);
        return;
      }
      const record: BlobRead = { ...read, status, bytes: 0 };
      reads.push(record);
      const spoil = corrupt > 0 && read.start === options.corrupt?.start && (status === 200 || status === 206);
      if (spoil) corrupt--;
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        if (spoil && body.length > 0) body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0xff;
        record.bytes = body.length;
        res.writeHead(status, answer.headers);
        res.end(body);
      });
      answer.on('error', () => res.destroy());
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://relay');
    const comp = url.searchParams.get('comp');
    if (req.method === 'GET' && comp === 'pagelist') lists.push(url.pathname);
    const range = req.method === 'GET' && comp === null ? /^bytes=(\d+)-(\d+)$/.exec(String(req.headers['x-ms-range'] ?? req.headers.range ?? '')) : null;
    if (!range) return relay(req, res);
    const read = { path: url.pathname, start: Number(range[1]), end: Number(range[2]) };
    if (busy > 0 && arrivals++ % 2 === 0) {
      busy--;
      reads.push({ ...read, status: 503, bytes: 0 });
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml', 'x-ms-error-code': 'ServerBusy' });
      res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>');
      return;
    }
    if (options.readDelayMs) setTimeout(() => relay(req, res, read), options.readDelayMs);
    else relay(req, res, read);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    reads: (path) => reads.filter((r) => path === undefined || r.path === path),
    pageListCalls: (path) => lists.filter((p) => path === undefined || p === path).length,
    reset: () => {
      reads = [];
      lists = [];
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
