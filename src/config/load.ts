// Loads the daemon configuration: YAML file, then environment (which wins), then
// defaults. Errors name the key and where it came from (file line or variable).
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { DEFAULT_TASK_QUEUE } from '../core/export-contract.js';
import { awsRegionProblem } from './aws-region.js';
import { applyEnvironment } from './env.js';
import { fileSchema, isLogLevel, workerIdentity, type FileConfig } from './file-schema.js';
import { applyLegacyKeys } from './legacy-keys.js';
import { OriginMap } from './origins.js';
import { realpathLongestPrefix } from './output-path.js';
import { withSecretFiles, type SecretFileIssue } from './secret-files.js';
import { generateSecretsKey } from './secrets.js';
import { readPem } from '../temporal/connection.js';
import type { HyperConfig, VsphereProfile } from './types.js';
import { findUnknownKeys } from './unknown-keys.js';

export interface ConfigIssue {
  /** Dotted key, e.g. "daemon.addr", or the environment variable. */
  key: string;
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.key}: ${i.message}`).join('\n'));
  }
}

export interface LoadConfigOptions {
  /** YAML file; optional: environment and defaults alone are a valid configuration. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Persist a generated secrets key under the data directory (default true). The
   * CLIs that never seal credentials pass false and get an ephemeral key.
   */
  persistSecretsKey?: boolean;
  /** The working directory (default process.cwd()): the data directory of last resort. */
  cwd?: string;
}

export interface LoadedConfig {
  config: HyperConfig;
  /** Unknown keys and other harmless oddities, each a readable sentence. */
  warnings: string[];
  /** What was read in a way worth a line at start (the original daemon's keys), each a sentence. */
  notes: string[];
}

export const DEFAULTS = {
  addr: 'localhost:8080',
  maxBodyBytes: 1024 * 1024,
  maxJobsPerSubmit: 100,
  maxIdsPerQuery: 1000,
  namespace: 'default',
  profile: 'default',
  region: 'us-east-1',
  logLevel: 'info',
  maxConcurrentTransfers: 4,
  heartbeatIntervalMs: 5_000,
  restartWarningMib: 1024,
  lostTimeoutSeconds: 600,
} as const;

/**
 * worker.identity, or the host name when it is unset: on one machine the host name
 * is stable across restarts, which is what pinning local exports needs. A host name
 * that cannot serve (too long, say) is an error naming the key to set instead.
 */
export function resolveWorkerIdentity(configured: string | undefined, host: string = hostname()): string {
  if (configured !== undefined) return configured;
  const parsed = workerIdentity.safeParse(host);
  if (parsed.success) return parsed.data;
  throw new ConfigError([
    {
      key: 'worker.identity',
      message: `is not set and the host name "${host}" cannot stand in for it (${parsed.error.issues[0]?.message ?? 'invalid'}); set worker.identity or HYPERSDK_WORKER_ID`,
    },
  ]);
}

export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  // systemd's StateDirectory= (/var/lib/hypersdk): never the service user's home.
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  const state = env.XDG_STATE_HOME ?? join(env.HOME ?? homedir(), '.local', 'state');
  return join(state, 'hypersdk');
}

/**
 * The data directory when none is configured: defaultDataDir(), or else the working
 * directory. The original daemon kept its state there (./hypersdk.db) and its
 * systemd unit sets WorkingDirectory=/var/lib/hypersdk with ProtectHome=true and a
 * service user whose home does not exist: under that unit the home is unusable and
 * the working directory is the state directory. Says which in `notes`.
 */
export async function usableDefaultDataDir(env: NodeJS.ProcessEnv, cwd: string, notes: string[]): Promise<string> {
  const preferred = defaultDataDir(env);
  try {
    await mkdir(preferred, { recursive: true, mode: 0o700 });
    return preferred;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (cwd === '/' || !(await writable(cwd))) return preferred; // the error at first use names it
    notes.push(`data directory ${cwd} (the working directory): ${preferred} cannot be created (${code}); set daemon.data_dir or HYPERSDK_DATA_DIR to choose`);
    return cwd;
  }
}

async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function readYaml(file: string): Promise<{ raw: Record<string, unknown>; origins: OriginMap }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ key: file, message: `cannot read the configuration file: ${(err as Error).message}` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    throw new ConfigError([{ key: file, line, message: `line ${line}: invalid YAML: ${first.message.split('\n')[0]}` }]);
  }
  const value: unknown = doc.toJS();
  if (value !== null && value !== undefined && (typeof value !== 'object' || Array.isArray(value))) {
    throw new ConfigError([{ key: file, line: 1, message: 'the configuration file must be a YAML mapping (key: value)' }]);
  }
  return { raw: (value ?? {}) as Record<string, unknown>, origins: new OriginMap(doc, lines, file) };
}

/**
 * The profile URL with a path, and without its userinfo: `https://user:pass@vc/sdk`
 * (which govc accepts in GOVC_URL) gives its user and password to the profile
 * where username/password are not set, and the URL kept (and ever printed) holds
 * neither.
 */
function completeVsphereUrl(url: string): { url: string; username?: string; password?: string } {
  const withScheme = /^[a-z]+:\/\//i.test(url) ? url : `https://${url}`;
  const parsed = new URL(withScheme);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/sdk';
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

async function loadSecretsKey(dataDir: string, persist: boolean): Promise<string> {
  if (!persist) return generateSecretsKey();
  const file = join(dataDir, 'secrets.key');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = generateSecretsKey();
  try {
    // wx: never overwrite a key another process wrote meanwhile.
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
}

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  let env: NodeJS.ProcessEnv;
  try {
    env = await withSecretFiles(options.env ?? process.env);
  } catch (err) {
    throw new ConfigError((err as { issues: SecretFileIssue[] }).issues);
  }
  const warnings: string[] = [];
  const notes: string[] = [];
  let raw: Record<string, unknown> = {};
  let origins = new OriginMap(undefined, undefined, undefined);
  if (options.file) {
    const loaded = await readYaml(options.file);
    raw = loaded.raw;
    origins = loaded.origins;
  }

  const vsphereRaw = raw.vsphere as { default_profile?: unknown } | undefined;
  const profileName =
    typeof vsphereRaw?.default_profile === 'string' && vsphereRaw.default_profile ? vsphereRaw.default_profile : DEFAULTS.profile;
  applyLegacyKeys(raw, origins, { warnings, notes }, {
    ownKeys: new Set(Object.keys(fileSchema.shape)),
    profile: profileName,
    // The original used info for a level it did not know: so does its LogLevel key here.
    acceptable: (target, value) => target[0] !== 'log_level' || isLogLevel(value),
  });
  applyEnvironment(raw, env, profileName, origins);

  for (const path of findUnknownKeys(fileSchema, raw)) {
    warnings.push(`unknown key ${origins.describe(path)} is ignored`);
  }

  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const origin = origins.origin(issue.path);
        return {
          key: origins.describe(issue.path),
          line: origin.kind === 'file' ? origin.line : undefined,
          message: issue.message,
        };
      }),
    );
  }
  checkAwsRegion(parsed.data.aws?.region, origins, warnings);
  const persist = options.persistSecretsKey ?? true;
  // Only the daemon (which persists) creates its data directory; the CLIs just name it.
  const dataDir = parsed.data.daemon?.data_dir ?? (persist ? await usableDefaultDataDir(env, options.cwd ?? process.cwd(), notes) : defaultDataDir(env));
  const config = await buildConfig(parsed.data, profileName, persist, origins, dataDir);
  return { config, warnings, notes };
}

/**
 * aws.region must look like a region. Written in the file for AWS, a wrong one is
 * an error; from AWS_REGION / AWS_DEFAULT_REGION, which S3-compatible set-ups set
 * for their own endpoint ("minio"), it is a warning: the daemon still starts, and
 * AWS jobs that name no region are refused with the reason.
 */
/** Azure's public cloud; sovereign clouds and tests set azure.resource_manager_endpoint. */
export const AZURE_RESOURCE_MANAGER = 'https://management.azure.com';

function checkAwsRegion(region: string | undefined, origins: OriginMap, warnings: string[]): void {
  const problem = region === undefined ? undefined : awsRegionProblem(region);
  if (!problem) return;
  const path = ['aws', 'region'];
  const origin = origins.origin(path);
  if (origin.kind === 'env') {
    warnings.push(`${origins.describe(path)}: ${problem}; AWS jobs and VM lists must name their region until it is one`);
    return;
  }
  throw new ConfigError([{ key: origins.describe(path), ...(origin.kind === 'file' && origin.line !== undefined ? { line: origin.line } : {}), message: problem }]);
}

/** daemon.tls_cert and daemon.tls_key come as a pair; relative paths resolve under the data directory. */
function gatewayTls(file: FileConfig, dataDir: string, origins: OriginMap): { tls?: { certFile: string; keyFile: string } } {
  const cert = file.daemon?.tls_cert;
  const key = file.daemon?.tls_key;
  if (!cert && !key) return {};
  if (!cert || !key) {
    const [given, missing] = cert ? ['tls_cert', 'tls_key'] : ['tls_key', 'tls_cert'];
    throw new ConfigError([
      {
        key: origins.describe(['daemon', given]),
        message: `is set but daemon.${missing} (HYPERSDK_${missing.toUpperCase()}) is not: HTTPS needs both the certificate and its key`,
      },
    ]);
  }
  return { tls: { certFile: resolve(dataDir, cert), keyFile: resolve(dataDir, key) } };
}

const TLS_FILES = [
  ['ca_cert', 'caCert'],
  ['client_cert', 'clientCert'],
  ['client_key', 'clientKey'],
] as const;

/**
 * temporal.tls and temporal.api_key, checked: a client certificate comes with its
 * key, every file is a readable PEM file (the error names the key and the path),
 * and both need temporal.address, since the embedded dev server has neither TLS nor
 * API keys (it listens on 127.0.0.1 only). Relative paths resolve under the data
 * directory, as daemon.tls_cert's do.
 */
function temporalSecurity(
  t: FileConfig['temporal'],
  dataDir: string,
  origins: OriginMap,
): Pick<HyperConfig['temporal'], 'tls' | 'apiKey'> {
  const raw = t?.tls ?? {};
  const issues: ConfigIssue[] = [];
  const issue = (path: string[], message: string) => {
    const origin = origins.origin(path);
    issues.push({ key: origins.describe(path), ...(origin.kind === 'file' && origin.line !== undefined ? { line: origin.line } : {}), message });
  };
  if (Boolean(raw.client_cert) !== Boolean(raw.client_key)) {
    const [set, missing] = raw.client_cert ? ['client_cert', 'client_key'] : ['client_key', 'client_cert'];
    issue(['temporal', 'tls', set], `is set but temporal.tls.${missing} is not: a client certificate and its private key go together (set both, or neither)`);
  }
  const tls: NonNullable<HyperConfig['temporal']['tls']> = {};
  for (const [key, field] of TLS_FILES) {
    const path = raw[key];
    if (!path) continue;
    const absolute = resolve(dataDir, path);
    const read = readPem(absolute);
    if ('problem' in read) issue(['temporal', 'tls', key], read.problem);
    tls[field] = absolute;
  }
  if (raw.server_name) tls.serverName = raw.server_name;
  const secured = Object.keys(tls).length > 0 || Boolean(t?.api_key);
  if (secured && !t?.address) {
    const what = [Object.keys(tls).length ? 'temporal.tls' : undefined, t?.api_key ? 'temporal.api_key' : undefined].filter(Boolean).join(' and ');
    issue(
      ['temporal', 'address'],
      `must be set when ${what} is: without it hypervisord starts the embedded Temporal dev server, which listens on 127.0.0.1 only and has no TLS or API keys (set TEMPORAL_ADDRESS to the cluster's frontend, or unset ${what})`,
    );
  }
  if (issues.length) throw new ConfigError(issues);
  return { ...(Object.keys(tls).length ? { tls } : {}), ...(t?.api_key ? { apiKey: t.api_key } : {}) };
}

async function buildConfig(
  file: FileConfig,
  profileName: string,
  persistKey: boolean,
  origins: OriginMap,
  configuredDataDir: string,
): Promise<HyperConfig> {
  const dataDir = resolve(configuredDataDir);
  const profiles: Record<string, VsphereProfile> = {};
  for (const [name, p] of Object.entries(file.vsphere?.profiles ?? {})) {
    let url: ReturnType<typeof completeVsphereUrl>;
    try {
      url = completeVsphereUrl(p.url);
    } catch {
      throw new ConfigError([{ key: origins.describe(['vsphere', 'profiles', name, 'url']), message: 'is not a URL' }]);
    }
    profiles[name] = {
      url: url.url,
      username: p.username ?? url.username ?? '',
      password: p.password ?? url.password ?? '',
      insecure: p.insecure ?? false,
      ...(p.thumbprint ? { thumbprint: p.thumbprint } : {}),
      ...(file.vsphere?.max_response_mib ? { maxResponseBytes: file.vsphere.max_response_mib * 1024 * 1024 } : {}),
    };
  }
  const roots = file.output?.allowed_roots ?? [join(dataDir, 'exports'), tmpdir()];
  const allowedRoots = await Promise.all(roots.map((r) => realpathLongestPrefix(resolve(dataDir, r))));
  const d = file.defaults ?? {};
  return {
    daemon: {
      addr: file.daemon?.addr ?? DEFAULTS.addr,
      ...(file.daemon?.api_token ? { apiToken: file.daemon.api_token } : {}),
      dataDir,
      maxBodyBytes: file.daemon?.max_body_bytes ?? DEFAULTS.maxBodyBytes,
      maxJobsPerSubmit: file.daemon?.max_jobs_per_submit ?? DEFAULTS.maxJobsPerSubmit,
      maxIdsPerQuery: file.daemon?.max_ids_per_query ?? DEFAULTS.maxIdsPerQuery,
      allowedHosts: (file.daemon?.allowed_hosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, '')),
      allowedOrigins: (file.daemon?.allowed_origins ?? []).map((o) => new URL(o).origin),
      ...gatewayTls(file, dataDir, origins),
    },
    temporal: {
      ...(file.temporal?.address ? { address: file.temporal.address } : {}),
      namespace: file.temporal?.namespace ?? DEFAULTS.namespace,
      taskQueue: file.temporal?.task_queue ?? DEFAULT_TASK_QUEUE,
      uiPort: file.temporal?.ui_port ?? 0,
      ...temporalSecurity(file.temporal, dataDir, origins),
    },
    vsphere: {
      profiles,
      defaultProfile: profileName,
      ...(file.vsphere?.allowed_hosts ? { allowedHosts: file.vsphere.allowed_hosts } : {}),
      allowInsecureHttp: file.vsphere?.allow_insecure_http ?? false,
    },
    s3: {
      ...(file.s3?.endpoint ? { endpoint: file.s3.endpoint } : {}),
      region: file.s3?.region ?? DEFAULTS.region,
      ...(file.s3?.access_key_id ? { accessKeyId: file.s3.access_key_id } : {}),
      ...(file.s3?.secret_access_key ? { secretAccessKey: file.s3.secret_access_key } : {}),
      forcePathStyle: file.s3?.force_path_style ?? Boolean(file.s3?.endpoint),
      allowedBuckets: file.s3?.allowed_buckets ?? [],
    },
    aws: { ...(file.aws?.region ? { region: file.aws.region } : {}) },
    azure: {
      ...(file.azure?.subscription_id ? { subscriptionId: file.azure.subscription_id } : {}),
      ...(file.azure?.resource_group ? { resourceGroup: file.azure.resource_group } : {}),
      resourceManagerEndpoint: file.azure?.resource_manager_endpoint ?? AZURE_RESOURCE_MANAGER,
      ...(file.azure?.ca_file ? { caFile: file.azure.ca_file } : {}),
    },
    output: { allowedRoots },
    defaults: {
      method: d.method ?? 'auto',
      format: d.format ?? 'ovf',
      parallelDownloads: d.parallel_downloads ?? 4,
      removeCdrom: d.remove_cdrom ?? false,
      snapshot: d.snapshot ?? false,
      powerOff: d.power_off ?? false,
      shutdownTimeoutSeconds: d.shutdown_timeout_seconds ?? 300,
    },
    secretsKey: file.secrets_key ?? (await loadSecretsKey(dataDir, persistKey)),
    logLevel: file.log_level ?? DEFAULTS.logLevel,
    worker: {
      maxConcurrentTransfers: file.worker?.max_concurrent_transfers ?? DEFAULTS.maxConcurrentTransfers,
      heartbeatIntervalMs: file.worker?.heartbeat_interval_ms ?? DEFAULTS.heartbeatIntervalMs,
      identity: resolveWorkerIdentity(file.worker?.identity),
      lostTimeoutMs: (file.worker?.lost_timeout_seconds ?? DEFAULTS.lostTimeoutSeconds) * 1_000,
      restartWarningBytes: (file.worker?.restart_warning_mib ?? DEFAULTS.restartWarningMib) * 1024 * 1024,
    },
  };
}
