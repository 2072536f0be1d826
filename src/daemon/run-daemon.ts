// hypervisord's runtime: embedded Temporal (when no address is configured), the
// REST gateway and the export worker, started in that order and stopped in the
// reverse order. Either half can run alone for scale-out.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../api/gateway.js';
import type { HyperConfig } from '../config/types.js';
import { startTemporalDevServer, type TemporalDevServer } from '../devservices/temporal.js';
import { connectVsphere } from '../providers/vsphere/index.js';
import { connectTemporal } from '../temporal/connection.js';
import { createExportWorker, type ExportWorker } from '../worker/create-worker.js';
import { JobLogBook, JobLoggingLogger, pruneJobLogBooks } from '../worker/job-log-book.js';

export type DaemonMode = 'all' | 'gateway' | 'worker';

export interface RunningDaemon {
  gatewayUrl?: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  /** Resolves when the worker stops on its own (fatal error) — the daemon should then exit. */
  workerDone?: Promise<void>;
  stop(): Promise<void>;
}

const runtimeLevel: Record<HyperConfig['logLevel'], LogLevel> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };
let runtimeInstalled = false;

export async function startDaemon(
  config: HyperConfig,
  mode: DaemonMode,
  log: (line: string) => void,
): Promise<RunningDaemon> {
  if (!runtimeInstalled) {
    const stderrLogger = new DefaultLogger(runtimeLevel[config.logLevel]);
    // A worker also keeps each job's own lines, for GET /jobs/logs/{id} (job-log-book.ts).
    const logger =
      mode === 'gateway' ? stderrLogger : new JobLoggingLogger(stderrLogger, new JobLogBook(config.daemon.dataDir, undefined, (m) => stderrLogger.warn(m)));
    if (mode !== 'gateway') {
      const pruned = pruneJobLogBooks(config.daemon.dataDir);
      if (pruned) log(`removed ${pruned} job log book(s) not written for 30 days (${config.daemon.dataDir}/job-logs)`);
    }
    Runtime.install({ logger });
    runtimeInstalled = true;
  }
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log(`shutdown: ${(err as Error).message}`));
    stops.length = 0;
  };
  try {
    let temporal: TemporalDevServer | undefined;
    let address = config.temporal.address;
    if (!address) {
      mkdirSync(config.daemon.dataDir, { recursive: true });
      temporal = await startTemporalDevServer({
        dbFile: join(config.daemon.dataDir, 'temporal.db'),
        ui: true,
        ...(config.temporal.uiPort ? { uiPort: config.temporal.uiPort } : {}),
        logDir: config.daemon.dataDir,
        namespace: config.temporal.namespace,
      });
      stops.push(() => temporal!.stop());
      address = temporal.address;
      log(`embedded Temporal dev server on ${address} (history in ${join(config.daemon.dataDir, 'temporal.db')})`);
      log(`Temporal UI: ${temporal.uiUrl}`);
    }
    const effective: HyperConfig = { ...config, temporal: { ...config.temporal, address } };

    let gateway: RunningGateway | undefined;
    if (mode !== 'worker') {
      const connection = await connectTemporal(effective.temporal, (o) => Connection.connect(o));
      stops.push(() => connection.close());
      const client = new Client({ connection, namespace: effective.temporal.namespace });
      gateway = await startGateway(effective, {
        temporalClient: client,
        providerFactory: (profile) => connectVsphere(profile),
        startedAt: new Date(),
      });
      stops.push(() => gateway!.stop());
      log(`gateway listening on ${gateway.url}`);
    }

    let worker: ExportWorker | undefined;
    let workerDone: Promise<void> | undefined;
    if (mode !== 'gateway') {
      worker = await createExportWorker({ config: effective, log });
      workerDone = worker.run();
      stops.push(async () => {
        worker!.shutdown();
        await workerDone;
      });
      log(`worker ${worker.identity} polling task queues ${effective.temporal.taskQueue} and ${worker.workerTaskQueue} (namespace ${effective.temporal.namespace})`);
    }
    return {
      ...(gateway ? { gatewayUrl: gateway.url } : {}),
      temporalAddress: address,
      ...(temporal?.uiUrl ? { temporalUiUrl: temporal.uiUrl } : {}),
      ...(workerDone ? { workerDone } : {}),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
