import { Connection } from '@temporalio/client';
import { join } from 'node:path';
import { searchAttributes } from '../temporal/search-attributes.js';
import { launch, waitUntilReady, type ManagedProcess } from './process.js';
import { freePort, retryOnPortClash } from './ports.js';
import { toolPath } from './tools.js';

export interface TemporalDevServer {
  /** host:port of the frontend gRPC endpoint. */
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly namespace: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export interface TemporalDevServerOptions {
  /** SQLite file; the history survives a restart of the server when it is set. */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  /** Serve the web UI (off in tests). */
  ui?: boolean;
  logDir: string;
  namespace?: string;
}

/** Starts `temporal server start-dev` on 127.0.0.1 with hypersdk's search attributes. */
export function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  return retryOnPortClash(() => startTemporalDevServerOnce(options));
}

async function startTemporalDevServerOnce(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const port = options.port ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', namespace];
  args.push('--log-level', 'warn', '--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  let uiUrl: string | undefined;
  if (options.ui) {
    const uiPort = options.uiPort ?? (await freePort());
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
  } else {
    args.push('--headless');
  }
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const attr of searchAttributes) args.push('--search-attribute', `${attr.name}=Keyword`);

  const proc = launch('temporal', toolPath('temporal'), { args, logFile: join(options.logDir, 'temporal.log') });
  const address = `127.0.0.1:${port}`;
  await waitUntilReady(proc, async () => {
    const connection = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return true;
    } finally {
      await connection.close();
    }
  });
  return { address, uiUrl, namespace, process: proc, stop: () => proc.stop() };
}
