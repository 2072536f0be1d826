// hyperexport without a daemon: credentials from the configuration (GOVC_* or a
// -config file), discovery straight from vCenter, and exports on an in-process
// worker. Temporal is TEMPORAL_ADDRESS when set, otherwise an embedded dev server
// in a temporary directory that is removed afterwards. Everything is started
// lazily: a dry run or a listing never starts Temporal.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startExportWorkflow, TemporalJobStore } from '../../jobs/temporal-jobs.js';
import type { Job } from '../../jobs/job-schemas.js';
import { prepareSubmit } from '../../jobs/submit.js';
import { ConfigError, loadConfig } from '../../config/load.js';
import { realpathLongestPrefix } from '../../config/output-path.js';
import type { HyperConfig, VsphereProfile } from '../../config/types.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../devservices/temporal.js';
import type { VmDescription, VmSummary } from '../../core/vm-description.js';
import { connectVsphere, type VsphereProvider } from '../../providers/vsphere/index.js';
import { connectTemporal } from '../../temporal/connection.js';
import { createExportWorker } from '../../worker/create-worker.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { ExportBackend, ExportRequest, VmInfo, VmRow } from './backend.js';
import { findProfile } from '../../config/profiles.js';
import { vmDescriptionView, vmSummaryView } from '../../api/vm-views.js';
import { redactUrl, redactUserinfo } from '../../core/redact.js';

/** Standalone mode has no vCenter to talk to: no GOVC_* variables and no profile in a -config file. */
export class MissingCredentialsError extends CliError {}

export interface StandaloneOptions {
  configFile?: string;
  profile?: string;
  env: NodeJS.ProcessEnv;
  /** Progress notes for the user ("starting Temporal..."); silent in -json mode. */
  note(text: string): void;
}

interface Engine {
  client: Client;
  store: TemporalJobStore;
  taskQueue: string;
  stop(): Promise<void>;
}

function row(vm: VmSummary): VmRow {
  return vmSummaryView(vm);
}

function info(vm: VmDescription): VmInfo {
  return vmDescriptionView(vm);
}

/** vCenter failures as CLI errors with the exit code and what to do about them. */
function vcenterError(err: unknown, configuredUrl: string): CliError {
  const e = err as { type?: unknown; message?: unknown; cause?: { code?: unknown } };
  const message = redactUserinfo(typeof e.message === 'string' ? e.message : String(err));
  const url = redactUrl(configuredUrl);
  switch (e.type) {
    case 'AuthenticationFailed':
      return new CliError(`vCenter ${url} refused the credentials: ${message}; check GOVC_USERNAME and GOVC_PASSWORD`, ExitCode.Unauthorized);
    case 'VmNotFound':
      return new CliError(`${message}; list the VMs with 'hyperexport -standalone' in a terminal or 'govc find / -type m'`, ExitCode.Failed);
    case 'TlsError':
      return new CliError(`TLS to vCenter ${url} failed: ${message}; pin it with GOVC_THUMBPRINT or, for a lab, set GOVC_INSECURE=1`, ExitCode.Unreachable);
    default:
      return new CliError(`cannot talk to vCenter at ${url}: ${message}; check GOVC_URL and that the server is reachable`, ExitCode.Unreachable);
  }
}

export class StandaloneBackend implements ExportBackend {
  readonly label: string;
  readonly picksOutput = false;
  private provider: Promise<VsphereProvider> | undefined;
  private engine: Promise<Engine> | undefined;

  private constructor(
    private readonly config: HyperConfig,
    private readonly profileName: string,
    private readonly profile: VsphereProfile,
    private readonly options: StandaloneOptions,
  ) {
    this.label = `standalone mode (vCenter ${new URL(profile.url).host})`;
  }

  static async open(options: StandaloneOptions): Promise<StandaloneBackend> {
    let config: HyperConfig;
    try {
      ({ config } = await loadConfig({ ...(options.configFile ? { file: options.configFile } : {}), env: options.env, persistSecretsKey: false }));
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(`the configuration is not valid:\n${err.message}`, ExitCode.Usage);
      throw err;
    }
    const name = options.profile ?? config.vsphere.defaultProfile;
    const profile = findProfile(config.vsphere.profiles, name);
    if (!profile?.url || !profile.username) {
      const known = Object.keys(config.vsphere.profiles);
      if (options.profile && known.length) throw new CliError(`no vCenter profile "${options.profile}" in the configuration (configured: ${known.join(', ')})`, ExitCode.Usage);
      throw new MissingCredentialsError(
        '-standalone needs vCenter credentials: set GOVC_URL, GOVC_USERNAME and GOVC_PASSWORD (GOVC_INSECURE=1 for a self-signed lab certificate), or pass -config <file>',
        ExitCode.Usage,
      );
    }
    return new StandaloneBackend(config, name, profile, options);
  }

  private vsphere(): Promise<VsphereProvider> {
    this.provider ??= connectVsphere(this.profile).catch((err: unknown) => {
      this.provider = undefined;
      throw vcenterError(err, this.profile.url);
    });
    return this.provider;
  }

  async listVms(): Promise<VmRow[]> {
    const provider = await this.vsphere();
    try {
      return (await provider.listVms()).map(row);
    } catch (err) {
      throw vcenterError(err, this.profile.url);
    }
  }

  async describeVm(vmPath: string): Promise<VmInfo> {
    const provider = await this.vsphere();
    try {
      return info(await provider.describeVm(vmPath));
    } catch (err) {
      throw vcenterError(err, this.profile.url);
    }
  }

  /** Output paths are the user's own here: the directory (relative to the working directory) or s3:// bucket asked for is allowed as is. */
  async allowOutput(path: string): Promise<string> {
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

  async submit(request: ExportRequest): Promise<string> {
    if (request.output_path) request = { ...request, output_path: await this.allowOutput(request.output_path) };
    const prepared = await prepareSubmit(this.config, { ...request, profile: this.profileName });
    const job = prepared.jobs[0];
    if (!job) throw new CliError(`cannot export ${request.vm_path}: ${prepared.errors.join('; ')}`, ExitCode.Failed);
    const engine = await this.startEngine();
    await startExportWorkflow(engine.client, engine.taskQueue, job.input);
    return job.input.jobId;
  }

  async job(id: string): Promise<Job> {
    const engine = await this.startEngine();
    const job = await engine.store.get(id);
    if (!job) throw new CliError(`job ${id} not found`, ExitCode.Failed);
    return job;
  }

  async cancel(ids: readonly string[]): Promise<string[]> {
    if (!this.engine) return [];
    const engine = await this.engine;
    const errors: string[] = [];
    for (const id of ids) {
      const outcome = await engine.store.cancel(id);
      if (!outcome.ok) errors.push(outcome.reason);
    }
    return errors;
  }

  private startEngine(): Promise<Engine> {
    this.engine ??= this.createEngine();
    return this.engine;
  }

  private async createEngine(): Promise<Engine> {
    const stops: (() => Promise<void>)[] = [];
    const stopAll = async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    };
    try {
      const workDir = await mkdtemp(join(tmpdir(), 'hyperexport-'));
      stops.push(() => rm(workDir, { recursive: true, force: true }));
      const logFile = join(workDir, 'worker.log');
      try {
        // Worker chatter (the SDK's and the native core's) would tear the progress
        // bars: warnings go to a log file in the work directory instead.
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
      let address = this.config.temporal.address;
      if (!address) {
        this.options.note('Starting an embedded Temporal dev server (set TEMPORAL_ADDRESS to use a running one)...\n');
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
      this.options.note('Starting an export worker in this process...\n');
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

  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    if (engine) await (await engine.catch(() => undefined))?.stop();
    const provider = this.provider;
    this.provider = undefined;
    if (provider) await (await provider.catch(() => undefined))?.logout().catch(() => undefined);
  }
}
