// Loopback servers that write exactly the bytes a test wants, byte for byte: the
// HTTP client is judged against what real (and really broken) servers put on the
// wire, not against another HTTP library's idea of a response.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { httpGet } from '../../../src/transfer/http-get.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();

/** A server that answers every connection with `respond(socket, requestHead)` once the request head arrived. */
export async function rawServer(
  respond: (socket: Socket, requestHead: string) => unknown,
  tls?: { key: string; cert: string },
): Promise<string> {
  const onConnection = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    socket.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) void respond(socket, head);
    });
    socket.on('error', () => undefined);
  };
  const server = tls ? createTlsServer(tls, onConnection) : createServer(onConnection);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return `${tls ? 'https' : 'http'}://127.0.0.1:${port}/disk`;
}

/** For afterEach: stops every server and drops the connections still open (stalled or flooding ones). */
export function closeRawServers(): void {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) s.close();
}

export const get = (url: string, extra: Partial<Parameters<typeof httpGet>[0]> = {}) =>
  httpGet({ url, signal: new AbortController().signal, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, ...extra });

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Writes each piece as its own write, `delayMs` apart, so the client sees them in separate reads. */
export async function writePieces(socket: Socket, pieces: (string | Buffer)[], delayMs: number): Promise<void> {
  for (const piece of pieces) {
    if (socket.destroyed) return;
    socket.write(piece);
    await sleep(delayMs);
  }
}

/** `data` as a chunked body: one chunk per piece of `pieceBytes`, then the last chunk. */
export function chunkedPieces(data: Buffer, pieceBytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += pieceBytes) {
    const part = data.subarray(at, at + pieceBytes);
    out.push(Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]));
  }
  out.push(Buffer.from('0\r\n\r\n'));
  return out;
}

/** `data` cut into `pieceBytes` slices. */
export function slices(data: Buffer, pieceBytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += pieceBytes) out.push(data.subarray(at, at + pieceBytes));
  return out;
}

/** A self-signed certificate for 127.0.0.1 (openssl), for raw TLS servers. */
export function selfSignedTls(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hyper-raw-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Writes `head`, then `piece` again and again (honouring backpressure) until
 * `totalBytes` or until the client goes away; `written` tells how far it got.
 */
export function flood(socket: Socket, head: string | Buffer, piece: Buffer, totalBytes: number): { written: number; done: Promise<void> } {
  const state = { written: 0, done: Promise.resolve() };
  state.done = (async () => {
    socket.write(head);
    while (state.written < totalBytes && !socket.destroyed && socket.writable) {
      state.written += piece.length;
      if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r).once('close', r));
    }
    if (!socket.destroyed) socket.end();
  })();
  return state;
}
