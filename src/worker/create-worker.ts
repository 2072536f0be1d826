// Builds a Temporal worker that runs export workflows and activities. Used by
// hypervisord (embedded or scale-out worker), the demo and the tests.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createExportActivities, LeaseProgressRegistry } from '../activities/index.js';
import { openCredentials } from '../config/secrets.js';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import { connectVsphere } from '../providers/vsphere/index.js';
import { ProviderPool, type ProviderConnector } from './provider-pool.js';
import { createSinkFactory } from './sinks.js';

export interface ExportWorkerOptions {
  config: HyperConfig;
  /** Defaults to a new connection to config.temporal.address. */
  connection?: NativeConnection;
  /** Defaults to the real vSphere provider. */
  connectProvider?: ProviderConnector;
  /** Pre-built workflow bundle (tests reuse one across many workers). */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Overrides for the worker (identity, shutdownGraceTime...). */
  workerOptions?: Partial<WorkerOptions>;
}

export interface ExportWorker {
  worker: Worker;
  /** Runs until shutdown() (or a fatal error), then closes sessions and connections. */
  run(): Promise<void>;
  shutdown(): void;
}

/** The workflow entry point: TypeScript source under tsx/vitest, compiled JS under dist/. */
export function workflowsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/index.js', import.meta.url));
}

export async function createExportWorker(options: ExportWorkerOptions): Promise<ExportWorker> {
  const { config } = options;
  const ownConnection = !options.connection;
  const connection =
    options.connection ?? (await NativeConnection.connect({ address: config.temporal.address ?? '127.0.0.1:7233' }));
  const providers = new ProviderPool({
    profiles: config.vsphere.profiles,
    defaultProfile: config.vsphere.defaultProfile,
    connect: options.connectProvider ?? ((p: VsphereProfile) => connectVsphere(p)),
    openSealed: (sealed) => {
      const c = openCredentials(config.secretsKey, sealed);
      return { url: c.server, username: c.username, password: c.password, insecure: c.insecure, ...(c.thumbprint ? { thumbprint: c.thumbprint } : {}) };
    },
  });
  const sinks = createSinkFactory(config.s3);
  const activities = createExportActivities({
    providers,
    sinks,
    leaseProgress: new LeaseProgressRegistry(),
    checkpointEveryMs: config.worker.heartbeatIntervalMs,
  });
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: workflowsPath() }),
    activities,
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentTransfers + 8,
    // The SDK would otherwise send heartbeats only every 0.8 × heartbeatTimeout
    // (16 s): the server's copy of the checkpoint, which a retry resumes from and
    // progress reads, must be as fresh as the commits.
    maxHeartbeatThrottleInterval: config.worker.heartbeatIntervalMs,
    defaultHeartbeatThrottleInterval: config.worker.heartbeatIntervalMs,
    // Give in-flight transfers a moment to commit and heartbeat before shutdown.
    shutdownGraceTime: '10 seconds',
    ...options.workerOptions,
  });
  return {
    worker,
    async run() {
      try {
        await worker.run();
      } finally {
        await providers.closeAll();
        sinks.close();
        if (ownConnection) await connection.close();
      }
    },
    shutdown() {
      // The SDK also starts shutting down on SIGINT/SIGTERM by itself: only the
      // first request counts.
      if (worker.getState() === 'RUNNING') worker.shutdown();
    },
  };
}
