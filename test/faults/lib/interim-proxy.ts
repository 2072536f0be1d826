// An HTTP-aware TLS proxy for the `interim-1xx` fault: it writes interim
// responses (100 Continue, 103 Early Hints) to the client right in front of the
// real response of a disk download, which toxiproxy cannot do (it never inserts
// bytes).
//
// Set-up: worker → this proxy (TLS, self-signed certificate; the suite runs with
// `insecure: true`) → toxiproxy → vcsim. The proxy terminates TLS from the
// worker and opens its own TLS connection to the upstream (the toxiproxy
// listener) for each connection, so every toxiproxy fault still applies to the
// bytes the worker receives: a reset upstream is a reset towards the worker, an
// upstream close a close, a stall a stall (data is relayed with backpressure, so
// the bandwidth toxic still sets the pace).
//
// Parsing is minimal on purpose: only the first request line of each connection
// is read. A connection whose first request is `GET /nfc/...` (NFC lease device
// URLs) or `GET /folder/...` (datastore downloads) is a disk download: the
// transfer engine's client (src/transfer/http-get.ts) sends `connection: close`,
// one request per connection, so the upstream's first byte on that connection is
// the start of the response head, and that is where the interim responses go
// when injection was on as the request arrived. Everything else (SOAP over
// undici's keep-alive connections, HEAD requests, a second request on a kept
// connection) passes through untouched, byte for byte.
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket } from 'node:tls';

export type InterimStatus = 100 | 103;

const INTERIM_BYTES: Record<InterimStatus, string> = {
  100: 'HTTP/1.1 100 Continue\r\n\r\n',
  103: 'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n',
};

/**
 * What goes in front of successive disk responses, in turn: one of each, both,
 * and a longer run. Never more than the client's limit of 10 (MAX_INTERIM_RESPONSES).
 */
const SEQUENCES: readonly (readonly InterimStatus[])[] = [[100], [103], [100, 103], [103, 103, 100]];

const DISK_GET = /^GET \/(nfc|folder)\/\S* HTTP\/1\.[01]$/;
/** A first request line longer than this is not a disk GET of ours: pass the connection through. */
const MAX_REQUEST_LINE = 8 * 1024;

export interface InterimStats {
  /** Connections whose first request was a disk GET. */
  diskRequests: number;
  /** Disk responses that got interim responses in front. */
  responsesPreceded: number;
  /** Interim responses written, by status. */
  interim: Record<InterimStatus, number>;
}

export interface InterimProxy {
  /** host:port the worker connects to instead of the upstream. */
  readonly listen: string;
  /** A copy of the counters so far. */
  stats(): InterimStats;
  /** Disk GETs arriving from now on get interim responses in front of their response (or not). */
  setInjecting(on: boolean): void;
  /** Disk connections whose request came while injecting and whose response has not started yet. */
  armed(): number;
  /** Resets every open disk-download connection (both sides), so the client retries; how many there were. */
  resetDiskConnections(): number;
  close(): Promise<void>;
}

interface Connection {
  clientRaw: Socket;
  upstreamRaw: Socket;
  disk: boolean;
  armed: boolean;
}

/** Resets a TCP connection (RST, like toxiproxy's reset_peer), once. */
function reset(raw: Socket): void {
  if (!raw.destroyed) raw.resetAndDestroy();
}

export async function startInterimProxy(options: { upstream: string; tls: { key: string; cert: string } }): Promise<InterimProxy> {
  const [upstreamHost, upstreamPort] = splitHostPort(options.upstream);
  const secureContext = createSecureContext(options.tls);
  const connections = new Set<Connection>();
  const stats: InterimStats = { diskRequests: 0, responsesPreceded: 0, interim: { 100: 0, 103: 0 } };
  let injecting = false;
  let sequence = 0;

  const onConnection = (clientRaw: Socket): void => {
    // We hold the raw sockets (not only the TLS ones) to be able to send a real reset.
    const client = new TLSSocket(clientRaw, { isServer: true, secureContext });
    const upstreamRaw = netConnect({ host: upstreamHost, port: upstreamPort });
    const upstream = tlsConnect({ socket: upstreamRaw, rejectUnauthorized: false });
    const conn: Connection = { clientRaw, upstreamRaw, disk: false, armed: false };
    connections.add(conn);

    let line = '';
    let decided = false;
    client.on('data', (chunk: Buffer) => {
      if (!decided) {
        line += chunk.toString('latin1', 0, Math.min(chunk.length, MAX_REQUEST_LINE + 2 - line.length));
        const eol = line.indexOf('\r\n');
        if (eol >= 0 || line.length > MAX_REQUEST_LINE) {
          decided = true;
          if (eol >= 0 && DISK_GET.test(line.slice(0, eol))) {
            conn.disk = true;
            conn.armed = injecting;
            stats.diskRequests++;
          }
          line = '';
        }
      }
      // Before the upstream handshake is done, TLS queues the write.
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());

    let first = true;
    upstream.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        if (conn.armed) {
          conn.armed = false;
          const statuses = SEQUENCES[sequence++ % SEQUENCES.length]!;
          // Each as its own write (its own TLS record), like a server flushing an interim response.
          for (const status of statuses) {
            client.write(INTERIM_BYTES[status]);
            stats.interim[status]++;
          }
          stats.responsesPreceded++;
        }
      }
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());

    // An orderly end is relayed as one, a reset or error as a reset.
    let upstreamEnded = false;
    let clientEnded = false;
    upstream.on('end', () => {
      upstreamEnded = true;
      client.end();
    });
    client.on('end', () => {
      clientEnded = true;
      upstream.end();
    });
    upstream.on('error', () => reset(clientRaw));
    client.on('error', () => reset(upstreamRaw));
    upstream.on('close', () => {
      conn.armed = false;
      if (!upstreamEnded) reset(clientRaw);
    });
    client.on('close', () => {
      conn.armed = false;
      connections.delete(conn);
      if (!clientEnded) reset(upstreamRaw);
      else if (!upstreamRaw.destroyed) upstream.destroy();
    });
    clientRaw.on('error', () => undefined);
    upstreamRaw.on('error', () => undefined);
  };

  const server: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('interim proxy: no listening address');

  return {
    listen: `127.0.0.1:${address.port}`,
    stats: () => ({ ...stats, interim: { ...stats.interim } }),
    setInjecting: (on) => {
      injecting = on;
    },
    armed: () => [...connections].filter((c) => c.armed).length,
    resetDiskConnections: () => {
      let n = 0;
      for (const c of connections) {
        if (!c.disk || c.clientRaw.destroyed) continue;
        reset(c.upstreamRaw);
        reset(c.clientRaw);
        n++;
      }
      return n;
    },
    close: async () => {
      for (const c of connections) {
        c.clientRaw.destroy();
        c.upstreamRaw.destroy();
      }
      connections.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitHostPort(hostPort: string): [string, number] {
  const at = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`interim proxy: bad upstream ${hostPort}`);
  return [hostPort.slice(0, at), port];
}
