// Builds the Temporal workers of one export worker process: one on the shared task
// queue (workflows and every activity) and one on the process's own queue
// `<task_queue>@<identity>` (activities only), where local exports pinned to this
// machine run. Used by hypervisord (embedded or scale-out worker), the demo and the tests.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExportActivities, SessionProgressRegistry } from '../activities/index.js';
import { createVmOperationActivities } from '../activities/vm-operations.js';
import { openCredentials } from '../config/secrets.js';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import { connectVsphere } from '../providers/vsphere/index.js';
import { connectTemporal } from '../temporal/connection.js';
import { ProviderPool, type AzureConnector, type ProviderConnector } from './provider-pool.js';
import { createSinkFactory } from './sinks.js';
import { cachedWorkflowBundle } from './workflow-bundle.js';
import { sdkWorkerIdentity, workerTaskQueue } from './worker-queue.js';

export interface ExportWorkerOptions {
  config: HyperConfig;
  /** Defaults to a new connection to config.temporal.address (with its TLS and API key). */
  connection?: NativeConnection;
  /** Defaults to the real vSphere provider. */
  connectProvider?: ProviderConnector;
  /** Defaults to the real Azure provider (connectAzure) with the worker's azure configuration. */
  connectAzure?: AzureConnector;
  /**
   * Pre-built workflow bundle. Default: the one kept in <data_dir>/workflow-bundle,
   * made by a child process when the workflow code changed (workflow-bundle.ts).
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Where to say that a bundle was made. */
  log?: (line: string) => void;
  /** Overrides for the worker (identity, shutdownGraceTime...). */
  workerOptions?: Partial<WorkerOptions>;
}

export interface ExportWorker {
  /** On the shared task queue: workflows, claims, S3 exports, any activity. */
  worker: Worker;
  /**
   * Activities only, on this worker's own queue (`<task_queue>@<identity>`): every
   * activity of the local exports this worker claimed, retries included.
   */
  pinnedWorker: Worker;
  /** worker.identity. */
  identity: string;
  /** The pinned worker's task queue. */
  workerTaskQueue: string;
  /** Runs both until shutdown() (or a fatal error in either), then closes sessions and connections. */
  run(): Promise<void>;
  shutdown(): void;
}

/** The workflow entry point: TypeScript source under tsx/vitest, compiled JS under dist/. */
export function workflowsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/index.js', import.meta.url));
}

/**
 * How the workflow code runs: on the main thread (what the SDK calls debugMode),
 * not on a workflow thread of its own. That thread is a second V8 isolate that
 * loads its own copy of the SDK and its protobuf modules: about 30 MB more RSS for
 * the life of the process (measured with bench/large). The workflow code is small
 * and its activations short (a few per export, plus progress queries), so it can
 * share the event loop with the activities; the same reusable V8 context
 * sandboxes it. debugMode would also lift the deadlock timeout, which on the main
 * thread would let a workflow that never yields hang the whole process: it stays
 * at the SDK's 5 s through isolateExecutionTimeout, an option the SDK reads but
 * leaves out of WorkerOptions' type (test/smoke checks that it still fires).
 */
const deadlockTimeout: Record<string, unknown> = { isolateExecutionTimeout: '5 seconds' };
export const workflowExecution: Partial<WorkerOptions> = { debugMode: true, ...deadlockTimeout };

/** Where a worker process keeps its workflow bundle and the record of its inputs. */
export function workflowBundleDir(config: HyperConfig): string {
  return join(config.daemon.dataDir, 'workflow-bundle');
}

export async function createExportWorker(options: ExportWorkerOptions): Promise<ExportWorker> {
  const { config } = options;
  const ownConnection = !options.connection;
  const connection = options.connection ?? (await connectTemporal(config.temporal, (o) => NativeConnection.connect(o)));
  const providers = new ProviderPool({
    profiles: config.vsphere.profiles,
    defaultProfile: config.vsphere.defaultProfile,
    vsphereRules: config.vsphere,
    ...(config.azure ? { azure: config.azure } : {}),
    ...(options.connectAzure ? { connectAzure: options.connectAzure } : {}),
    connect: options.connectProvider ?? ((p: VsphereProfile) => connectVsphere(p)),
    openSealed: (sealed, jobId) => {
      const c = openCredentials(config.secretsKey, sealed, jobId);
      return { url: c.server, username: c.username, password: c.password, insecure: c.insecure, ...(c.thumbprint ? { thumbprint: c.thumbprint } : {}) };
    },
  });
  // The worker's own rules, whatever a workflow's input says (worker-rules.ts).
  const sinks = createSinkFactory(config.s3, { allowedRoots: config.output.allowedRoots, allowedBuckets: config.s3.allowedBuckets ?? [] });
  const identity = config.worker.identity;
  const ownQueue = workerTaskQueue(config.temporal.taskQueue, identity);
  const activities = {
    ...sinks.scoped(
      createExportActivities(
        { providers, sinks, sessionProgress: new SessionProgressRegistry(), checkpointEveryMs: config.worker.heartbeatIntervalMs, restartWarningBytes: config.worker.restartWarningBytes },
        { taskQueue: ownQueue, identity, lostTimeoutMs: config.worker.lostTimeoutMs },
      ),
    ),
    // Shutdown, power-off, CD-ROM removal (REST /vms/*): same sessions, no sink.
    ...createVmOperationActivities({ providers }),
  };
  // Both workers share one activity set (one session pool, one session-progress
  // registry): a keep-alive on one queue reports the bytes of transfers on the other.
  const common = {
    connection,
    namespace: config.temporal.namespace,
    activities,
    identity: sdkWorkerIdentity(identity),
    // Per worker: a process runs at most twice this at once, local exports' on the
    // pinned queue and S3 exports' on the shared one.
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentTransfers + 8,
    // The SDK would otherwise send heartbeats only every 0.8 × heartbeatTimeout
    // (16 s): the server's copy of the checkpoint, which a retry resumes from and
    // progress reads, must be as fresh as the commits.
    maxHeartbeatThrottleInterval: config.worker.heartbeatIntervalMs,
    defaultHeartbeatThrottleInterval: config.worker.heartbeatIntervalMs,
    // Give in-flight transfers a moment to commit and heartbeat before shutdown.
    shutdownGraceTime: '10 seconds',
  } satisfies Partial<WorkerOptions>;
  // After a worker dies, its workflows' next task waits on that worker's sticky
  // queue until this passes (the SDK's default is 10 s), then any worker replays the
  // history. An export's history is a few hundred events, replayed in milliseconds,
  // so a short wait costs little even when a busy live worker misses it, and a
  // killed worker's exports lose 2 s here instead of 10.
  const stickyQueueScheduleToStartTimeout = '2 seconds';
  // The pinned worker must stay on its own queue and never run workflows, whatever the caller overrides.
  const { taskQueue: _queue, workflowsPath: _path, workflowBundle: _bundle, ...activityOverrides } = options.workerOptions ?? {};
  let worker: Worker;
  let pinnedWorker: Worker;
  try {
    // Never bundled in this process: webpack's memory would stay with it (workflow-bundle.ts).
    const overridden = options.workerOptions?.workflowBundle ?? options.workerOptions?.workflowsPath;
    const workflowBundle =
      options.workflowBundle ??
      (overridden ? undefined : await cachedWorkflowBundle({ cacheDir: workflowBundleDir(config), workflowsPath: workflowsPath(), ...(options.log ? { log: options.log } : {}) }));
    worker = await Worker.create({
      ...common,
      taskQueue: config.temporal.taskQueue,
      ...(workflowBundle ? { workflowBundle } : {}),
      ...workflowExecution,
      stickyQueueScheduleToStartTimeout,
      ...options.workerOptions,
    });
    pinnedWorker = await Worker.create({ ...common, ...activityOverrides, taskQueue: ownQueue });
  } catch (err) {
    await providers.closeAll();
    sinks.close();
    if (ownConnection) await connection.close();
    throw err;
  }
  const workers = [worker, pinnedWorker];
  const shutdown = () => {
    // The SDK also starts shutting down on SIGINT/SIGTERM by itself: only the
    // first request counts.
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    worker,
    pinnedWorker,
    identity,
    workerTaskQueue: ownQueue,
    async run() {
      try {
        // One stops, both stop: a process whose pinned worker is gone must not
        // go on claiming local exports on the shared queue that nobody would run.
        const results = await Promise.allSettled(workers.map((w) => w.run().finally(shutdown)));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        await providers.closeAll();
        sinks.close();
        if (ownConnection) await connection.close();
      }
    },
    shutdown,
  };
}
