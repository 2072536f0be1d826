// Environment variables that override the configuration file. The GOVC_* names are
// the ones govc and the original hypersdk use, so existing shells keep working.
import type { OriginMap } from './origins.js';

type Converter = (value: string) => unknown;

const asString: Converter = (v) => v;
// Kept as a string when it is not a number, so that validation names the variable.
const asInt: Converter = (v) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v);
const asList: Converter = (v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
// Directories, colon-separated like PATH.
const asPathList: Converter = (v) =>
  v
    .split(':')
    .map((s) => s.trim())
    .filter(Boolean);
const asBool: Converter = (v) => {
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  return v;
};

/** output.allowed_roots from the environment (named in the refusal of an output path). */
export const OUTPUT_ROOTS_ENV = 'HYPERSDK_OUTPUT_ROOTS';

interface EnvBinding {
  name: string;
  /** `$profile` stands for the default vSphere profile name. */
  path: string[];
  convert: Converter;
}

export const ENV_BINDINGS: EnvBinding[] = [
  { name: 'GOVC_URL', path: ['vsphere', 'profiles', '$profile', 'url'], convert: asString },
  { name: 'GOVC_USERNAME', path: ['vsphere', 'profiles', '$profile', 'username'], convert: asString },
  { name: 'GOVC_PASSWORD', path: ['vsphere', 'profiles', '$profile', 'password'], convert: asString },
  { name: 'GOVC_INSECURE', path: ['vsphere', 'profiles', '$profile', 'insecure'], convert: asBool },
  { name: 'GOVC_THUMBPRINT', path: ['vsphere', 'profiles', '$profile', 'thumbprint'], convert: asString },
  { name: 'HYPERSDK_SOAP_MAX_RESPONSE_MIB', path: ['vsphere', 'max_response_mib'], convert: asInt },
  { name: 'DAEMON_ADDR', path: ['daemon', 'addr'], convert: asString },
  { name: 'HYPERSDK_API_TOKEN', path: ['daemon', 'api_token'], convert: asString },
  { name: 'HYPERSDK_DATA_DIR', path: ['daemon', 'data_dir'], convert: asString },
  { name: 'HYPERSDK_TLS_CERT', path: ['daemon', 'tls_cert'], convert: asString },
  { name: 'HYPERSDK_TLS_KEY', path: ['daemon', 'tls_key'], convert: asString },
  { name: 'HYPERSDK_ALLOWED_HOSTS', path: ['daemon', 'allowed_hosts'], convert: asList },
  { name: 'HYPERSDK_ALLOWED_ORIGINS', path: ['daemon', 'allowed_origins'], convert: asList },
  { name: 'HYPERSDK_MAX_JOBS_PER_SUBMIT', path: ['daemon', 'max_jobs_per_submit'], convert: asInt },
  { name: 'HYPERSDK_MAX_IDS_PER_QUERY', path: ['daemon', 'max_ids_per_query'], convert: asInt },
  { name: 'LOG_LEVEL', path: ['log_level'], convert: asString },
  { name: 'DOWNLOAD_WORKERS', path: ['defaults', 'parallel_downloads'], convert: asInt },
  { name: 'HYPERSDK_WORKER_ID', path: ['worker', 'identity'], convert: asString },
  { name: 'TEMPORAL_ADDRESS', path: ['temporal', 'address'], convert: asString },
  { name: 'TEMPORAL_NAMESPACE', path: ['temporal', 'namespace'], convert: asString },
  { name: 'HYPERSDK_TEMPORAL_TLS_CA', path: ['temporal', 'tls', 'ca_cert'], convert: asString },
  { name: 'HYPERSDK_TEMPORAL_TLS_CERT', path: ['temporal', 'tls', 'client_cert'], convert: asString },
  { name: 'HYPERSDK_TEMPORAL_TLS_KEY', path: ['temporal', 'tls', 'client_key'], convert: asString },
  { name: 'HYPERSDK_TEMPORAL_TLS_SERVER_NAME', path: ['temporal', 'tls', 'server_name'], convert: asString },
  { name: 'HYPERSDK_TEMPORAL_API_KEY', path: ['temporal', 'api_key'], convert: asString },
  { name: 'HYPERSDK_TASK_QUEUE', path: ['temporal', 'task_queue'], convert: asString },
  { name: 'HYPERSDK_SECRETS_KEY', path: ['secrets_key'], convert: asString },
  { name: 'AWS_ENDPOINT_URL_S3', path: ['s3', 'endpoint'], convert: asString },
  { name: 'AWS_ENDPOINT_URL', path: ['s3', 'endpoint'], convert: asString },
  { name: 'AWS_REGION', path: ['s3', 'region'], convert: asString },
  { name: 'AWS_DEFAULT_REGION', path: ['s3', 'region'], convert: asString },
  { name: 'AWS_REGION', path: ['aws', 'region'], convert: asString },
  { name: 'AWS_DEFAULT_REGION', path: ['aws', 'region'], convert: asString },
  { name: 'AZURE_SUBSCRIPTION_ID', path: ['azure', 'subscription_id'], convert: asString },
  { name: 'HYPERSDK_AZURE_RESOURCE_MANAGER_ENDPOINT', path: ['azure', 'resource_manager_endpoint'], convert: asString },
  { name: 'HYPERSDK_AZURE_CA_FILE', path: ['azure', 'ca_file'], convert: asString },
  { name: 'AWS_ACCESS_KEY_ID', path: ['s3', 'access_key_id'], convert: asString },
  { name: 'AWS_SECRET_ACCESS_KEY', path: ['s3', 'secret_access_key'], convert: asString },
  { name: 'AWS_S3_FORCE_PATH_STYLE', path: ['s3', 'force_path_style'], convert: asBool },
  { name: 'HYPERSDK_S3_ALLOWED_BUCKETS', path: ['s3', 'allowed_buckets'], convert: asList },
  { name: OUTPUT_ROOTS_ENV, path: ['output', 'allowed_roots'], convert: asPathList },
  { name: 'HYPERSDK_VSPHERE_ALLOWED_HOSTS', path: ['vsphere', 'allowed_hosts'], convert: asList },
];

/**
 * The original daemon's variables: it took an empty one as unset, and its systemd
 * unit carries Environment="GOVC_PASSWORD=", which must not wipe out the password
 * of the configuration file. An empty variable of ours stays an error (it names it).
 */
const ORIGINAL_VARIABLES = new Set(['GOVC_URL', 'GOVC_USERNAME', 'GOVC_PASSWORD', 'GOVC_INSECURE', 'DAEMON_ADDR', 'LOG_LEVEL', 'DOWNLOAD_WORKERS']);

export function isUnset(name: string, value: string | undefined): boolean {
  return value === undefined || (value === '' && ORIGINAL_VARIABLES.has(name));
}

export function setIn(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Writes set environment variables into the raw config; the first binding of a path wins. */
export function applyEnvironment(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  profile: string,
  origins: OriginMap,
): void {
  const done = new Set<string>();
  for (const binding of ENV_BINDINGS) {
    const value = env[binding.name];
    if (value === undefined || isUnset(binding.name, value)) continue;
    const path = binding.path.map((p) => (p === '$profile' ? profile : p));
    const id = path.join('.');
    if (done.has(id)) continue;
    done.add(id);
    setIn(raw, path, binding.convert(value));
    origins.setEnv(path, binding.name);
  }
}
