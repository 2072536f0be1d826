// An mTLS front for the harness's plain Temporal dev server, standing in for a
// secured cluster: it demands a client certificate signed by the test CA (Node's
// own TLS, not project code) and pipes each accepted connection, bytes unchanged,
// to the dev server's gRPC port.
import { connect as netConnect, type Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { makeTestPki, pem, type TestPki } from './certs.js';

export interface TlsTerminator {
  /** 127.0.0.1:<port> */
  address: string;
  /** Connections that passed the handshake with a trusted client certificate. */
  readonly authorized: number;
  close(): Promise<void>;
}

export async function startTlsTerminator(pki: TestPki, upstream: string): Promise<TlsTerminator> {
  const [host, port] = [
    upstream.slice(0, upstream.lastIndexOf(':')),
    Number(upstream.slice(upstream.lastIndexOf(':') + 1)),
  ];
  const sockets = new Set<Socket>();
  let authorized = 0;
  const server = createServer(
    {
      key: pem(pki.serverKey),
      cert: pem(pki.serverCert),
      ca: pem(pki.caCert),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client: TLSSocket) => {
      authorized++;
      const up = netConnect(port, host);
      sockets.add(client).add(up);
      client.pipe(up).pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.on('close', () => (up.destroy(), sockets.delete(client)));
      up.on('close', () => (client.destroy(), sockets.delete(up)));
    },
  );
  // A refused handshake is the client's to report; the terminator just drops it.
  server.on('tlsClientError', () => undefined);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${own}`,
    get authorized() {
      return authorized;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A test PKI and a terminator in front of the harness's Temporal, for the tests of
 * one file: made before them, closed after. Read the fields inside tests only.
 */
export function useTlsTerminator(services: { workDir: string; temporal: { address: string } }): {
  readonly pki: TestPki;
  readonly terminator: TlsTerminator;
} {
  let pki: TestPki | undefined;
  let terminator: TlsTerminator | undefined;
  beforeAll(async () => {
    pki = makeTestPki(join(services.workDir, `pki-${randomBytes(3).toString('hex')}`));
    terminator = await startTlsTerminator(pki, services.temporal.address);
  });
  afterAll(async () => {
    await terminator?.close();
  });
  const inside = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('useTlsTerminator: its PKI and terminator exist only inside tests');
    return value;
  };
  return {
    get pki() {
      return inside(pki);
    },
    get terminator() {
      return inside(terminator);
    },
  };
}
