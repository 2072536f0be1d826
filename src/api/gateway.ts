// Serves the app with @hono/node-server on daemon.addr, over HTTPS when
// daemon.tls_cert and daemon.tls_key are set. Returns the bound address and a stop
// function, so hypervisord can run it next to a worker.
import { serve, type ServerType } from '@hono/node-server';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { createApp } from './app.js';
import { hostOf } from './auth.js';
import type { GatewayDeps } from './deps.js';

export interface RunningGateway {
  /** http(s)://host:port actually bound (port 0 in daemon.addr picks a free one). */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export class GatewayTlsError extends Error {
  override name = 'GatewayTlsError';
}

/**
 * Reads and checks the certificate and key before anything listens, so that a
 * wrong path or a key that does not match is one sentence naming the key to fix.
 */
export function loadGatewayTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string, key: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new GatewayTlsError(`${key}: cannot read ${file} (${code ?? (err as Error).message})`);
    }
  };
  const cert = read(tls.certFile, 'daemon.tls_cert');
  const key = read(tls.keyFile, 'daemon.tls_key');
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new GatewayTlsError(`daemon.tls_cert: ${tls.certFile} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1'))) throw new GatewayTlsError(`daemon.tls_key: ${tls.keyFile} holds no PEM private key`);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const reason = (err as Error).message.replace(/^error:[0-9A-F]+:/, '');
    throw new GatewayTlsError(`daemon.tls_cert / daemon.tls_key: ${tls.certFile} and ${tls.keyFile} are not a usable certificate and key (${reason})`);
  }
  return { cert, key };
}

export async function startGateway(config: GatewayDeps['config'], deps: Omit<GatewayDeps, 'config'>): Promise<RunningGateway> {
  const tls = config.daemon.tls ? loadGatewayTls(config.daemon.tls) : undefined;
  const gateway = createApp({ processMetrics: true, ...deps, config });
  const app = gateway.app;
  const host = hostOf(config.daemon.addr) || '127.0.0.1';
  const port = Number(config.daemon.addr.slice(config.daemon.addr.lastIndexOf(':') + 1));
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port,
        ...(tls ? { createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } } : {}),
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let stopped: Promise<void> | undefined;
  return {
    url: `${tls ? 'https' : 'http'}://${shownHost}:${address.port}`,
    port: address.port,
    stop: () =>
      (stopped ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive connections would hold close() open.
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await gateway.close();
      })()),
  };
}
