// Serves the app over HTTP with @hono/node-server on daemon.addr. Returns the
// bound address and a stop function, so hypervisord can run it next to a worker.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { hostOf } from './auth.js';
import type { GatewayDeps } from './deps.js';

export interface RunningGateway {
  /** http://host:port actually bound (port 0 in daemon.addr picks a free one). */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startGateway(config: GatewayDeps['config'], deps: Omit<GatewayDeps, 'config'>): Promise<RunningGateway> {
  const gateway = createApp({ processMetrics: true, ...deps, config });
  const app = gateway.app;
  const host = hostOf(config.daemon.addr) || '127.0.0.1';
  const port = Number(config.daemon.addr.slice(config.daemon.addr.lastIndexOf(':') + 1));
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
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
