// A loopback HTTP(S) server serving one in-memory file, with switches to misbehave
// the ways real sources do: ignore Range, drop the connection, stall, change the
// file, and pace the bytes so checkpoints happen during a transfer.
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface SourceBehaviour {
  honourRange: boolean;
  /** Destroy the socket after sending this many body bytes in one response. */
  dropAfterBytes?: number;
  /** Stop sending (keep the socket open) after this many body bytes. */
  stallAfterBytes?: number;
  /** Pace the body at about this many bytes per second (64 KiB slices). */
  bytesPerSecond?: number;
  /** Send no Content-Length (chunked), as NFC stream-optimized exports do. */
  chunked?: boolean;
}

export interface SourceServer {
  url: string;
  data: Buffer;
  sha256: string;
  etag: string;
  behaviour: SourceBehaviour;
  /** Range headers of the requests received, in order (undefined = no Range). */
  ranges: (string | undefined)[];
  /** Replace the served file (a "changed source"). */
  replace(data: Buffer): void;
  close(): Promise<void>;
}

const SLICE = 64 * 1024;

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function startSourceServer(
  size: number,
  behaviour: Partial<SourceBehaviour> = {},
  tls?: { key: string; cert: string },
): Promise<SourceServer> {
  const state: SourceServer = {
    url: '',
    data: randomBytes(size),
    sha256: '',
    etag: '',
    behaviour: { honourRange: true, ...behaviour },
    ranges: [],
    replace(data: Buffer) {
      state.data = data;
      state.sha256 = sha256Hex(data);
      state.etag = `"${state.sha256.slice(0, 16)}"`;
    },
    close: () => Promise.resolve(),
  };
  state.replace(state.data);
  const sockets = new Set<Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const b = state.behaviour;
    const data = state.data;
    state.ranges.push(req.headers.range);
    if (req.url !== '/disk.vmdk') {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    res.setHeader('etag', state.etag);
    res.setHeader('last-modified', 'Tue, 01 Jul 2025 00:00:00 GMT');
    res.setHeader('accept-ranges', b.honourRange ? 'bytes' : 'none');
    if (m && b.honourRange) {
      start = Number(m[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
        ...(b.chunked ? {} : { 'content-length': String(data.length - start) }),
      });
    } else {
      res.writeHead(200, b.chunked ? {} : { 'content-length': String(data.length) });
    }
    let sent = 0;
    let pos = start;
    const limit = b.dropAfterBytes ?? b.stallAfterBytes ?? Infinity;
    const delayMs = b.bytesPerSecond ? (SLICE / b.bytesPerSecond) * 1000 : 0;
    const pump = (): void => {
      while (pos < data.length) {
        if (sent >= limit) {
          if (b.dropAfterBytes !== undefined) res.socket?.destroy();
          return; // stall: leave the response open
        }
        const n = Math.min(SLICE, data.length - pos, limit - sent);
        const ok = res.write(data.subarray(pos, pos + n));
        pos += n;
        sent += n;
        if (delayMs > 0) {
          setTimeout(pump, delayMs);
          return;
        }
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  };

  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/disk.vmdk`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
