// What hyperexport runs in its own process when no daemon does it: Temporal
// (TEMPORAL_ADDRESS, or an embedded dev server in a temporary directory that is
// removed afterwards), an export worker on a task queue of its own, and the job
// store over them. Started on first use: a dry run or a listing never starts it.
// Shared by the vSphere and the cloud standalone backends.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HyperConfig } from '../../config/types.js';
import { realpathLongestPrefix } from '../../config/output-path.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../devservices/temporal.js';
import type { Job } from '../../jobs/job-schemas.js';
import { prepareSubmit } from '../../jobs/submit.js';
import { startExportWorkflow, TemporalJobStore } from '../../jobs/temporal-jobs.js';
import { connectTemporal } from '../../temporal/connection.js';
import { createExportWorker } from '../../worker/create-worker.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { ExportRequest } from './backend.js';

interface Running {
  client: Client;
  store: TemporalJobStore;
  taskQueue: string;
  stop(): Promise<void>;
}

export class StandaloneEngine {
  private running: Promise<Running> | undefined;

  constructor(
    /** The run's configuration; allowOutput widens its output rules for this run only. */
    private readonly config: HyperConfig,
    /** Progress notes for the user ("starting Temporal..."). */
    private readonly note: (text: string) => void,
  ) {}

  /**
   * Output paths are the user's own here: the directory (relative to the working
   * directory) or s3:// bucket asked for is allowed as is. Resolves to the path to submit.
   */
  private async allowOutput(path: string): Promise<string> {
    if (path.startsWith('s3://')) {
      // The bucket (and prefix) asked for is the user's own too; the credentials are theirs.
      const target = path.slice('s3://'.length).replace(/\/+$/, '');
      const allowed = (this.config.s3.allowedBuckets ??= []);
      if (target && !allowed.includes(target)) allowed.push(target);
      return path;
    }
    const absolute = await realpathLongestPrefix(resolve(path));
    if (!this.config.output.allowedRoots.includes(absolute)) this.config.output.allowedRoots.unshift(absolute);
    return absolute;
  }

  /**
   * Submits `request` as the gateway would, with `source` (a vCenter profile, or a
   * cloud provider and its source fields), and starts it; resolves to its job id.
   */
  async submit(request: ExportRequest, source: Record<string, unknown>): Promise<string> {
    if (request.output_path) request = { ...request, output_path: await this.allowOutput(request.output_path) };
    const prepared = await prepareSubmit(this.config, { ...request, ...source });
    const job = prepared.jobs[0];
    if (!job) throw new CliError(`cannot export ${request.vm_path}: ${prepared.errors.join('; ')}`, ExitCode.Failed);
    const running = await this.started();
    await startExportWorkflow(running.client, running.taskQueue, job.input);
    return job.input.jobId;
  }

  async job(id: string): Promise<Job> {
    const running = await this.started();
    const job = await running.store.get(id);
    if (!job) throw new CliError(`job ${id} not found`, ExitCode.Failed);
    return job;
  }

  async cancel(ids: readonly string[]): Promise<string[]> {
    if (!this.running) return [];
    const running = await this.running;
    const errors: string[] = [];
    for (const id of ids) {
      const outcome = await running.store.cancel(id);
      if (!outcome.ok) errors.push(outcome.reason);
    }
    return errors;
  }

  async close(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (running) await (await running.catch(() => undefined))?.stop();
  }

  private started(): Promise<Running> {
    this.running ??= this.startAll();
    return this.running;
  }

  private async startAll(): Promise<Running> {
    const stops: (() => Promise<void>)[] = [];
    const stopAll = async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    };
    try {
      const workDir = await mkdtemp(join(tmpdir(), 'hyperexport-'));
      stops.push(() => rm(workDir, { recursive: true, force: true }));
      installQuietRuntime(join(workDir, 'worker.log'));
      let address = this.config.temporal.address;
      if (!address) {
        this.note('Starting an embedded Temporal dev server (set TEMPORAL_ADDRESS to use a running one)...\n');
        let server: TemporalDevServer;
        try {
          server = await startTemporalDevServer({ logDir: workDir, namespace: this.config.temporal.namespace });
        } catch (err) {
          throw new CliError(`cannot start the embedded Temporal dev server: ${(err as Error).message}`, ExitCode.Failed);
        }
        stops.push(() => server.stop());
        address = server.address;
      }
      let connection: Connection;
      try {
        connection = await connectTemporal({ ...this.config.temporal, address }, (o) => Connection.connect({ ...o, connectTimeout: 10_000 }));
      } catch (err) {
        throw new CliError(`${(err as Error).message.replace(/^temporal: /, '')}; unset TEMPORAL_ADDRESS to use an embedded dev server`, ExitCode.Unreachable);
      }
      stops.push(() => connection.close());
      const client = new Client({ connection, namespace: this.config.temporal.namespace });
      // A queue of our own: no daemon worker on the same Temporal picks these exports up.
      const taskQueue = `hyperexport-${randomBytes(6).toString('hex')}`;
      this.note('Starting an export worker in this process...\n');
      const worker = await createExportWorker({
        config: { ...this.config, temporal: { ...this.config.temporal, address, taskQueue } },
        workerOptions: { identity: `hyperexport-${process.pid}` },
      });
      const running = worker.run();
      running.catch(() => undefined);
      stops.push(async () => {
        worker.shutdown();
        await running.catch(() => undefined);
      });
      return { client, store: new TemporalJobStore(client, taskQueue), taskQueue, stop: stopAll };
    } catch (err) {
      await stopAll();
      throw err;
    }
  }
}

/**
 * Worker chatter (the SDK's and the native core's) would tear the progress bars:
 * warnings go to a log file in the work directory instead.
 */
function installQuietRuntime(logFile: string): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => appendFileSync(logFile, `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} ${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}\n`)),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
      // The SDK would shut the worker down on Ctrl-C; hyperexport handles Ctrl-C
      // itself and needs the worker to run the cancellation's cleanup (lease, snapshot).
      shutdownSignals: [],
    });
  } catch {
    // A runtime is already installed in this process (tests); keep it.
  }
}
