// Configuration files written for the original Go hypersdk, and files shared with
// hyper2kvm, load without edits. The original's README documents its flat keys as
// Go field names (VCenterURL), its config.example.yaml spells them in snake_case
// (vcenter_url), and its YAML decoder in fact matched the lower-case field name
// (vcenterurl): all three spellings, in any case, are read here. The settings the
// original had and hypersdk has not (webhooks, cloud sections...) are named in a
// warning and ignored, never fatal. Warnings name keys, never values: Password
// and the cloud sections hold secrets.
import { setIn } from './env.js';
import type { OriginMap } from './origins.js';

/** The original's settings with a place in ours ($default: the default vSphere profile). */
const MAPPED: Record<string, readonly string[]> = {
  VCenterURL: ['vsphere', 'profiles', '$default', 'url'],
  Username: ['vsphere', 'profiles', '$default', 'username'],
  Password: ['vsphere', 'profiles', '$default', 'password'],
  Insecure: ['vsphere', 'profiles', '$default', 'insecure'],
  DaemonAddr: ['daemon', 'addr'],
  LogLevel: ['log_level'],
  DownloadWorkers: ['defaults', 'parallel_downloads'],
};

/**
 * Its string settings: Go's YAML decoder put any scalar into a string field as
 * written (Password: 0123 is the password "0123"), where YAML itself reads a number.
 */
const STRINGS = new Set(['VCenterURL', 'Username', 'Password', 'DaemonAddr', 'LogLevel']);

/** The original's settings hypersdk does without, and what stands in for them. */
const UNUSED: Record<string, string> = {
  Timeout: 'transfers are bounded by Temporal activity timeouts',
  ChunkSize: 'disks stream without a chunk size',
  RetryAttempts: 'Temporal retries activities',
  RetryDelay: 'Temporal retries activities',
  ProgressStyle: 'a client-side display setting',
  ShowETA: 'a client-side display setting',
  RefreshRate: 'a client-side display setting',
  ConnectionPool: 'vSphere sessions are pooled by the worker',
  Webhooks: 'webhooks are not implemented',
  DatabasePath: 'job state lives in Temporal',
  AWS: 'the original read its AWS section as "aws" in lower case only, and so does hypersdk (aws.region)',
  Azure: 'the Azure section is read as "azure" in lower case (azure.subscription_id, azure.resource_group); credentials come from the workers\' Azure chain',
  GCP: 'exports are from vSphere only',
  HyperV: 'exports are from vSphere only',
  OCI: 'exports are from vSphere only',
  OpenStack: 'exports are from vSphere only',
  AlibabaCloud: 'exports are from vSphere only',
  Proxmox: 'exports are from vSphere only',
};

const AWS_CREDENTIALS =
  'AWS credentials are never read from this file: workers use the standard AWS credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws profiles, an instance role)';

/** Keys of the original's aws section other than region (which hypersdk reads as aws.region). */
const UNUSED_AWS: Record<string, string> = {
  access_key: AWS_CREDENTIALS,
  secret_key: AWS_CREDENTIALS,
  s3_bucket: 'S3 output goes to an s3:// output_path within s3.allowed_buckets',
  export_format: "AWS disks are written as a job's format, raw, qcow2 or vhd (defaults.format when it is one of those)",
  enabled: 'AWS sources need no switch',
};

/** Removes the original's aws.* settings hypersdk does without, with a warning each (names, never values). */
function dropOriginalAwsKeys(raw: Record<string, unknown>, origins: OriginMap, warnings: string[]): void {
  const section = raw.aws;
  if (section === null || typeof section !== 'object' || Array.isArray(section)) return;
  for (const key of Object.keys(section)) {
    const reason = UNUSED_AWS[key];
    if (reason === undefined) continue;
    warnings.push(`${origins.describe(['aws', key])}: the original daemon's aws.${key} setting has no effect in hypersdk (${reason}); ignored`);
    delete (section as Record<string, unknown>)[key];
  }
}

/** Spelling-blind form of a key: VCenterURL, vcenter_url and vcenterurl are one key. */
function folded(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

const BY_FOLDED = new Map<string, string>([...Object.keys(MAPPED), ...Object.keys(UNUSED)].map((name) => [folded(name), name]));

/** The original's name for `key` if it is one of the original's settings in any spelling. */
export function originalKeyName(key: string): string | undefined {
  return BY_FOLDED.get(folded(key));
}

/**
 * hyper2kvm's switches that share a name with a section of ours: `daemon: true`
 * (run hyper2kvm as a daemon) in a file both programs read is hyper2kvm's.
 */
function isForeignSwitch(key: string, value: unknown): boolean {
  return key === 'daemon' && typeof value === 'boolean';
}

export interface LegacyOptions {
  /** Top-level keys of our own schema: those are never read as the original's. */
  ownKeys: ReadonlySet<string>;
  profile: string;
  /** A value for a target it cannot hold is dropped with a warning instead (LogLevel: trace). */
  acceptable?: (target: readonly string[], value: unknown) => boolean;
}

/**
 * Moves the original's flat keys of `raw` to their place in ours, removes the
 * ones without a place and hyper2kvm's `daemon: true`, and says so: what it
 * read in `notes`, what it ignored in `warnings`.
 * A structured key of ours set as well wins over the original's spelling of it.
 */
export function applyLegacyKeys(
  raw: Record<string, unknown>,
  origins: OriginMap,
  report: { warnings: string[]; notes: string[] },
  options: LegacyOptions,
): void {
  const { warnings } = report;
  const mapped: string[] = [];
  dropOriginalAwsKeys(raw, origins, warnings);
  for (const key of Object.keys(raw)) {
    const value = raw[key];
    const where = origins.describe([key]);
    if (isForeignSwitch(key, value)) {
      delete raw[key];
      warnings.push(`${where}: a switch of hyper2kvm (hypersdk's daemon section is a mapping: addr, data_dir, ...); ignored`);
      continue;
    }
    if (options.ownKeys.has(key)) continue;
    const name = originalKeyName(key);
    if (name === undefined) continue;
    delete raw[key];
    const unused = UNUSED[name];
    if (unused !== undefined) {
      warnings.push(`${where}: the original daemon's ${name} setting has no effect in hypersdk (${unused}); ignored`);
      continue;
    }
    const target = MAPPED[name]!.map((p) => (p === '$default' ? options.profile : p));
    const read = STRINGS.has(name) && (typeof value === 'number' || typeof value === 'boolean') ? (origins.scalarSource([key]) ?? String(value)) : value;
    if (getIn(raw, target) !== undefined) {
      warnings.push(`${where}: ${target.join('.')} is set as well and wins; ${key} is ignored`);
      continue;
    }
    if (options.acceptable && !options.acceptable(target, read)) {
      warnings.push(`${where}: not a value hypersdk knows for ${target.join('.')}; the default is used, as the original daemon did`);
      continue;
    }
    setIn(raw, target, read);
    origins.setLegacy(target, [key]);
    mapped.push(`${key} -> ${target.join('.')}`);
  }
  if (mapped.length) report.notes.push(`read the original daemon's settings: ${mapped.join(', ')}`);
}

function getIn(raw: Record<string, unknown>, path: readonly string[]): unknown {
  let node: unknown = raw;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
