// Turns a submit body (one job, {jobs:[...]}, or a bare array) into validated
// workflow inputs. Unknown-but-harmless fields become warnings; wrong types or
// values of known fields reject that job with an error naming the field.
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { resolveOutputPath, OutputPathNotAllowedError, safeFileName } from '../config/output-path.js';
import { sealCredentials } from '../config/secrets.js';
import type { HyperConfig } from '../config/types.js';
import { bucketRefusal, vcenterRefusal } from '../config/worker-rules.js';
import type { ExportFormat, ExportMethod, ExportOptions, ExportWorkflowInput, SinkRef, SourceRef } from '../core/export-contract.js';
import { awsJobParts, normaliseAwsSource, refuseAwsFields } from './aws-job.js';
import { azureJobParts, normaliseAzureSource } from './azure-job.js';
import { definitionSourceFields, definitionSourceOptions, isOriginalMethod, originalMethodOf } from './definition.js';
import { JobRejected } from './job-rejected.js';
import type { JobDefinition, OriginalExportMethod } from './job-schemas.js';
import { FIELD_ALIASES, IGNORED_FIELDS, jobDefinitionInputSchema, jobOptionsSchema, type JobDefinitionInput } from './submit-schemas.js';

export interface PreparedJob {
  input: ExportWorkflowInput;
  definition: JobDefinition;
}

export interface PreparedSubmit {
  jobs: PreparedJob[];
  errors: string[];
  warnings: string[];
  /** Jobs that could not be prepared (errors holds one line each). */
  rejected: number;
}

/** Names a rejection for a conflict with existing files (clients can tell it from bad input). */
export const OUTPUT_EXISTS = 'OutputExists';

/**
 * The files an export of `vmName` would publish that already exist in `dir`. The
 * gateway only knows the VM by the path's last element, which is its name in
 * nearly every case; the worker checks again with the real name (checkOutput).
 */
async function existingExportFiles(dir: string, vmName: string): Promise<string[]> {
  const base = safeFileName(vmName);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return []; // no directory yet: nothing to collide with
  }
  const ours = new Set([`${base}.ovf`, `${base}.mf`, `${base}.ova`]);
  const isDisk = (e: string) => {
    const m = e.startsWith(`${base}-disk`) ? /^(\d+)\.(vmdk|raw|qcow2|vhd)$/.exec(e.slice(base.length + 5)) : null;
    return m !== null;
  };
  return entries.filter((e) => ours.has(e) || isDisk(e)).sort();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Splits a body into job objects and the label prefix used in messages. */
export function splitSubmitBody(body: unknown): { items: unknown[]; batch: boolean } {
  if (Array.isArray(body)) return { items: body, batch: true };
  if (isRecord(body) && 'jobs' in body) {
    if (!Array.isArray(body.jobs)) throw new JobRejected('jobs: must be a list of job definitions');
    return { items: body.jobs, batch: true };
  }
  return { items: [body], batch: false };
}

const KNOWN_FIELDS = new Set(Object.keys(jobDefinitionInputSchema.shape));
const KNOWN_OPTIONS = new Set(Object.keys(jobOptionsSchema.shape));
const IGNORED = new Set<string>(IGNORED_FIELDS);

/**
 * An alias pair where one side is "" and the other is not: the empty one is
 * "not given" (the original daemon read export_method, then method, the same way).
 */
function withoutEmptyAliases(item: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...item };
  for (const [alias, target] of Object.entries(FIELD_ALIASES)) {
    if (copy[alias] === '' && copy[target] !== undefined && copy[target] !== '') delete copy[alias];
    else if (copy[target] === '' && copy[alias] !== undefined && copy[alias] !== '') delete copy[target];
  }
  // The original's clients send format "" for "the default".
  if (copy.format === '') delete copy.format;
  return copy;
}

/** Which field the client named the export method with (for warnings). */
function methodFieldOf(item: Record<string, unknown>): string {
  return (item.export_method === undefined || item.export_method === '') && item.method !== undefined ? 'method' : 'export_method';
}

/**
 * Our method and the value clients read back in definition.export_method. The
 * original daemon's tool names ask for tools this server does not use: the export
 * is automatic, with a warning naming the field.
 */
function methodOf(
  requested: JobDefinitionInput['export_method'],
  fallback: ExportMethod,
  field: string,
  warnings: string[],
): { method: ExportMethod; original: OriginalExportMethod } {
  if (requested === undefined) return { method: fallback, original: originalMethodOf(fallback) };
  if (requested === '') return { method: 'auto', original: '' };
  if (isOriginalMethod(requested)) {
    warnings.push(`${field}: "${requested}" names a tool of the original daemon; this server exports with auto (datastore reads where the disk allows, else the OVF export)`);
    return { method: 'auto', original: requested };
  }
  return { method: requested, original: originalMethodOf(requested) };
}

function formatOf(requested: JobDefinitionInput['format'], fallback: ExportFormat, label: string, warnings: string[]): ExportFormat {
  if (requested === undefined) return fallback;
  if (requested === 'vmdk') {
    warnings.push(`${label}format: vmdk is produced as ovf (the disks are VMDK files beside the OVF descriptor)`);
    return 'ovf';
  }
  return requested;
}

/** Applies aliases and strips unused fields, collecting warnings. */
function normalise(given: Record<string, unknown>, label: string, warnings: string[]): Record<string, unknown> {
  const item = withoutEmptyAliases(given);
  const job: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) {
    const target = FIELD_ALIASES[key];
    if (target) {
      if (item[target] !== undefined && item[target] !== value) {
        warnings.push(`${label}${key}: ignored because ${target} is also given`);
      } else {
        job[target] = value;
      }
    } else if (key === 'id' && value === '') {
      warnings.push(`${label}id: empty, a job id was generated`);
    } else if (KNOWN_FIELDS.has(key)) {
      if (job[key] === undefined) job[key] = value;
    } else {
      warnings.push(
        IGNORED.has(key)
          ? `${label}${key}: not used by this server, ignored`
          : `${label}${key}: unknown field, ignored`,
      );
    }
  }
  if (isRecord(job.options)) {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(job.options)) {
      if (KNOWN_OPTIONS.has(key)) options[key] = value;
      else warnings.push(`${label}options.${key}: unknown option, ignored`);
    }
    job.options = options;
  }
  if (job.source !== undefined && job.provider === 'azure') job.source = normaliseAzureSource(job.source, label, warnings);
  else if (job.source !== undefined) job.source = normaliseAwsSource(job.source, label, warnings);
  return job;
}

function validate(job: Record<string, unknown>, label: string): JobDefinitionInput {
  const parsed = jobDefinitionInputSchema.safeParse(job);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  let value: unknown = job;
  for (const key of issue.path) value = isRecord(value) ? value[key as string] : undefined;
  const reason = value === undefined && issue.code === 'invalid_type' ? 'is required' : issue.message;
  throw new JobRejected(`${label}${field || 'job'}: ${reason}`);
}

function credentialsOf(job: JobDefinitionInput, label: string) {
  if (job.vcenter) {
    const v = job.vcenter;
    return { server: v.server, username: v.username, password: v.password, insecure: v.insecure ?? false, ...(v.thumbprint ? { thumbprint: v.thumbprint } : {}) };
  }
  if (job.vcenter_url !== undefined || job.password !== undefined) {
    if (!job.vcenter_url) throw new JobRejected(`${label}vcenter_url: is required with username/password`);
    return { server: job.vcenter_url, username: job.username ?? '', password: job.password ?? '', insecure: job.insecure ?? false };
  }
  return undefined;
}

/** Where a vSphere job's credentials come from: its inline ones (sealed for this job) or a profile. */
function vsphereSource(config: HyperConfig, job: JobDefinitionInput, jobId: string, label: string, warnings: string[]): SourceRef {
  const inline = credentialsOf(job, label);
  if (inline) {
    // The workers refuse it too (VcenterNotAllowed); refusing here answers at submit and names the field.
    const refusal = vcenterRefusal(config.vsphere, { url: inline.server, insecure: inline.insecure });
    if (refusal) throw new JobRejected(`${label}${job.vcenter ? 'vcenter.server' : 'vcenter_url'}: ${refusal}`);
    return { provider: 'vsphere', sealedCredentials: sealCredentials(config.secretsKey, inline, jobId) };
  }
  const profile = job.profile ?? config.vsphere.defaultProfile;
  const known = Object.keys(config.vsphere.profiles);
  if (job.profile && known.length > 0 && !known.includes(job.profile)) {
    throw new JobRejected(`${label}profile: unknown vCenter profile "${job.profile}" (configured: ${known.join(', ')})`);
  }
  if (known.length === 0) warnings.push(`${label}profile: this gateway has no vCenter profile; the worker must have "${profile}"`);
  return { provider: 'vsphere', profile };
}

function parseS3(config: HyperConfig, output: string, label: string): SinkRef | undefined {
  if (!output.startsWith('s3://')) return undefined;
  const rest = output.slice('s3://'.length);
  const [bucket, ...prefixParts] = rest.split('/');
  if (!bucket) throw new JobRejected(`${label}output_path: s3:// URL needs a bucket`);
  const prefix = prefixParts.filter(Boolean).join('/');
  const sink = { kind: 's3' as const, bucket, prefix: prefix ? `${prefix}/` : '' };
  // The workers refuse it too (BucketNotAllowed); refusing here names the field.
  const refusal = bucketRefusal(config.s3.allowedBuckets, sink.bucket, sink.prefix);
  if (refusal) throw new JobRejected(`${label}output_path: ${refusal}`);
  return sink;
}

async function prepareOne(
  config: HyperConfig,
  item: unknown,
  label: string,
  warnings: string[],
): Promise<PreparedJob> {
  if (!isRecord(item)) throw new JobRejected(`${label || 'body'}: a job must be an object with at least vm_path`);
  const job = validate(normalise(item, label, warnings), label);
  const jobId = job.id ?? randomUUID();
  const cloud =
    job.provider === 'aws'
      ? awsJobParts(config, job, label, methodFieldOf(item))
      : job.provider === 'azure'
        ? azureJobParts(config, job, label, methodFieldOf(item))
        : undefined;
  const aws = cloud?.source.provider === 'aws' ? cloud : undefined;
  if (!cloud) refuseAwsFields(job, label);
  const format = cloud?.format ?? formatOf(job.format, config.defaults.format, label, warnings);
  const vmPath = cloud?.vmRef ?? job.vm_path;
  const vmLeaf = aws ? vmPath : (vmPath.split('/').filter(Boolean).pop() ?? vmPath);
  const name = job.name ?? vmLeaf;

  const source: SourceRef = cloud?.source ?? vsphereSource(config, job, jobId, label, warnings);

  const requestedOutput = job.output_path ?? `${safeFileName(name)}-${jobId.slice(0, 8)}`;
  let sink = parseS3(config, requestedOutput, label);
  if (sink && format === 'ova') {
    // The worker refuses it too, but only once every disk is transferred.
    throw new JobRejected(`${label}format: ova is packed in a local output directory, not in ${requestedOutput}: give format ovf (the descriptor, manifest and disks as objects)${cloud ? ', or qcow2, raw or vhd' : ''}`);
  }
  let outputPath = requestedOutput;
  if (!sink) {
    try {
      outputPath = await resolveOutputPath(config, requestedOutput, `${label}output_path`);
    } catch (err) {
      if (err instanceof OutputPathNotAllowedError) throw new JobRejected(err.message);
      throw err;
    }
    sink = { kind: 'local', directory: outputPath };
    // An incremental export (since_snapshot) updates the earlier export's files, which
    // must be there: the worker checks that they are, and replaces them.
    const replaces = job.overwrite === true || job.options?.since_snapshot !== undefined;
    const clash = replaces ? [] : await existingExportFiles(outputPath, vmLeaf);
    if (clash.length > 0) {
      throw new JobRejected(
        `${label}output_path: ${OUTPUT_EXISTS}: ${outputPath} already holds ${clash.join(', ')} from an earlier export; choose another output_path or set overwrite: true (the old files are replaced only once the new export has succeeded)`,
      );
    }
  }

  const d = config.defaults;
  // A cloud job reads its snapshots one way whatever defaults.method says (a vSphere setting).
  const { method, original } = cloud
    ? { method: 'auto' as const, original: '' as const }
    : methodOf(job.export_method, d.method, `${label}${methodFieldOf(item)}`, warnings);
  const o = job.options ?? {};
  const options: ExportOptions = {
    parallelDownloads: o.parallel_downloads ?? d.parallelDownloads,
    removeCdrom: o.remove_cdrom ?? d.removeCdrom,
    snapshot: o.snapshot ?? d.snapshot,
    powerOff: o.power_off ?? d.powerOff,
    shutdownTimeoutSeconds: o.shutdown_timeout_seconds ?? d.shutdownTimeoutSeconds,
    ...(cloud ? { keepSnapshots: o.keep_snapshots ?? false } : {}),
    ...(aws && o.since_snapshot !== undefined ? { sinceSnapshot: o.since_snapshot } : {}),
  };
  const submittedAt = new Date().toISOString();
  const input: ExportWorkflowInput = {
    jobId,
    jobName: name,
    vmPath,
    format,
    ...(cloud?.diskImage ? { diskImage: cloud.diskImage } : {}),
    method,
    options,
    source,
    sink,
    outputPath: job.output_path ?? outputPath,
    ...(job.overwrite ? { overwrite: true } : {}),
    submittedAt,
  };
  const definition: JobDefinition = {
    id: jobId,
    name,
    vm_path: input.vmPath,
    output_path: input.outputPath,
    output_dir: input.outputPath,
    format: input.format,
    export_method: original,
    method: input.method,
    provider: source.provider,
    ...definitionSourceFields(source),
    ...(job.overwrite ? { overwrite: true } : {}),
    options: {
      parallel_downloads: options.parallelDownloads,
      remove_cdrom: options.removeCdrom,
      snapshot: options.snapshot,
      power_off: options.powerOff,
      shutdown_timeout_seconds: options.shutdownTimeoutSeconds,
      ...definitionSourceOptions(source, options),
    },
    created_at: submittedAt,
  };
  return { input, definition };
}

export async function prepareSubmit(config: HyperConfig, body: unknown): Promise<PreparedSubmit> {
  const result: PreparedSubmit = { jobs: [], errors: [], warnings: [], rejected: 0 };
  let split: { items: unknown[]; batch: boolean };
  try {
    split = splitSubmitBody(body);
  } catch (err) {
    if (!(err instanceof JobRejected)) throw err;
    return { ...result, errors: [err.message], rejected: 1 };
  }
  if (split.items.length === 0) return { ...result, errors: ['jobs: the list is empty'], rejected: 0 };
  for (const [index, item] of split.items.entries()) {
    const label = split.batch ? `jobs[${index}].` : '';
    try {
      result.jobs.push(await prepareOne(config, item, label, result.warnings));
    } catch (err) {
      if (!(err instanceof JobRejected)) throw err;
      result.errors.push(err.message);
      result.rejected++;
    }
  }
  return result;
}
