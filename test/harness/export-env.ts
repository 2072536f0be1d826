// Builds what an export test needs around the harness services: a worker
// configuration pointing at vcsim/MinIO, a running export worker, a client and
// workflow inputs. Everything real; nothing mocked.
import { Client, Connection } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { join } from 'node:path';
import { generateSecretsKey } from '../../src/config/secrets.js';
import type { HyperConfig } from '../../src/config/types.js';
import { DEFAULT_TASK_QUEUE, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { hasWorkflowPoller } from '../../src/jobs/task-queue-pollers.js';
import { createExportWorker, type ExportWorker } from '../../src/worker/create-worker.js';
import type { ServiceInfo } from './services.js';

export interface TestConfigOptions {
  /** Point the vSphere profile somewhere else (e.g. a toxiproxy listener in front of vcsim). */
  vcsimHost?: string;
  temporalAddress?: string;
  taskQueue?: string;
  heartbeatIntervalMs?: number;
  /** worker.identity; worker processes started with HYPERSDK_WORKER_ID override it. */
  workerIdentity?: string;
  /** worker.lost_timeout_seconds, in ms (tests of a lost worker shorten it). */
  lostTimeoutMs?: number;
}

/**
 * The transfers' heartbeat timeout of the kill tests (ExportWorkflowInput.
 * transferHeartbeatTimeoutMs; 20 s in production): how soon Temporal gives a
 * killed worker's transfer to another. Their workers heartbeat every second or
 * faster, so a live transfer has six chances before it would be timed out.
 */
export const KILLED_TRANSFER_NOTICED_MS = 6_000;

export function testConfig(services: ServiceInfo, options: TestConfigOptions = {}): HyperConfig {
  const root = join(services.workDir, 'exports');
  mkdirSync(root, { recursive: true });
  return {
    daemon: { addr: '127.0.0.1:0', dataDir: join(services.workDir, 'daemon'), maxBodyBytes: 1 << 20 },
    temporal: {
      address: options.temporalAddress ?? services.temporal.address,
      namespace: services.temporal.namespace,
      taskQueue: options.taskQueue ?? `${DEFAULT_TASK_QUEUE}-${randomBytes(4).toString('hex')}`,
      uiPort: 0,
    },
    vsphere: {
      profiles: {
        default: {
          url: `https://${options.vcsimHost ?? services.vcsim.host}/sdk`,
          username: services.vcsim.username,
          password: services.vcsim.password,
          insecure: true,
        },
      },
      defaultProfile: 'default',
    },
    s3: {
      endpoint: services.minio.endpoint,
      region: services.minio.region,
      accessKeyId: services.minio.accessKeyId,
      secretAccessKey: services.minio.secretAccessKey,
      forcePathStyle: true,
      allowedBuckets: [services.minio.bucket],
    },
    output: { allowedRoots: [root] },
    defaults: {
      method: 'auto',
      format: 'ovf',
      parallelDownloads: 2,
      removeCdrom: false,
      snapshot: false,
      powerOff: false,
      shutdownTimeoutSeconds: 60,
    },
    secretsKey: generateSecretsKey(),
    logLevel: 'warn',
    worker: {
      maxConcurrentTransfers: 4,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
      identity: options.workerIdentity ?? 'test-worker',
      lostTimeoutMs: options.lostTimeoutMs ?? 600_000,
      restartWarningBytes: 1 << 30,
    },
  };
}

export interface RunningWorker {
  worker: ExportWorker;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Waits (bounded) until Temporal lists a poller on the workflow task queue. `run()`
 * returns before the first poll reaches the server; a gateway that checks for a
 * worker (the VM operations answer 503 without one) would otherwise race it.
 */
async function untilPolled(config: HyperConfig, done: Promise<void>): Promise<void> {
  const temporal = await temporalClient(config);
  const { client } = temporal;
  let stopped = false;
  const markStopped = () => (stopped = true);
  void done.then(markStopped, markStopped);
  try {
    for (let attempt = 0; attempt < 150 && !stopped; attempt += 1) {
      if (await hasWorkflowPoller(client, config.temporal.namespace, config.temporal.taskQueue)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!stopped) throw new Error(`no poller appeared on task queue ${config.temporal.taskQueue} within 15 s of starting the worker`);
  } finally {
    await temporal.close();
  }
}

export async function startWorker(config: HyperConfig): Promise<RunningWorker> {
  const worker = await createExportWorker({ config });
  const done = worker.run();
  await untilPolled(config, done);
  return {
    worker,
    done,
    async stop() {
      worker.shutdown();
      await done;
    },
  };
}

export async function temporalClient(config: HyperConfig): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: config.temporal.address! });
  return { client: new Client({ connection, namespace: config.temporal.namespace }), close: () => connection.close() };
}

export function exportInput(
  jobId: string,
  vmPath: string,
  sink: ExportWorkflowInput['sink'],
  overrides: Partial<Omit<ExportWorkflowInput, 'options'>> & { options?: Partial<ExportWorkflowInput['options']> } = {},
): ExportWorkflowInput {
  const { options, ...rest } = overrides;
  return {
    jobId,
    jobName: jobId,
    vmPath,
    format: 'ovf',
    method: 'auto',
    source: { provider: 'vsphere', profile: 'default' },
    sink,
    outputPath: sink.kind === 'local' ? sink.directory : `s3://${sink.bucket}/${sink.prefix}`,
    submittedAt: new Date().toISOString(),
    ...rest,
    options: {
      parallelDownloads: 2,
      removeCdrom: false,
      snapshot: false,
      powerOff: false,
      shutdownTimeoutSeconds: 60,
      ...options,
    },
  };
}

/**
 * For a test file that exports through one in-process worker: starts the worker
 * and a client before the tests and stops both after. Read `env.client` inside tests.
 */
export function useWorkerAndClient(config: HyperConfig): { readonly client: Client } {
  let worker: RunningWorker | undefined;
  let temporal: Awaited<ReturnType<typeof temporalClient>> | undefined;
  beforeAll(async () => {
    worker = await startWorker(config);
    temporal = await temporalClient(config);
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
  });
  return {
    get client() {
      if (!temporal) throw new Error('useWorkerAndClient: the client exists only inside tests');
      return temporal.client;
    },
  };
}
