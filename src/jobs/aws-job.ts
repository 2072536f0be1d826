// The rules of a job with provider aws: what it reads (an instance, its Name tag, a
// volume or a snapshot, in a region), what it may produce (raw or qcow2 images),
// and the vSphere fields it refuses with what to use instead. Nothing secret is
// taken: the worker reads AWS with its own credential chain.
import { awsRegionProblem, isAwsRegion } from '../config/aws-region.js';
import type { HyperConfig } from '../config/types.js';
import { imageFormatOf, type AwsSourceRef, type ExportFormat, type ImageFormat } from '../core/export-contract.js';
import { JobRejected } from './job-rejected.js';
import type { JobDefinitionInput } from './submit-schemas.js';

const CREDENTIAL_CHAIN = "AWS credentials come from the worker's AWS credential chain (environment, ~/.aws, instance role)";

/** The vSphere fields an AWS job refuses, and what to use instead. */
const VSPHERE_ONLY: Record<'profile' | 'vcenter' | 'vcenter_url' | 'username' | 'password' | 'insecure', string> = {
  profile: `names a vCenter profile, which does not apply to provider aws: ${CREDENTIAL_CHAIN}; to use a profile of the worker's shared AWS config, give source.profile`,
  vcenter: `vCenter credentials do not apply to provider aws: ${CREDENTIAL_CHAIN}, and source.profile names a profile of its shared AWS config`,
  vcenter_url: `a vCenter URL does not apply to provider aws: give the AWS region as source.region`,
  username: `vCenter credentials do not apply to provider aws: ${CREDENTIAL_CHAIN}, and source.profile names a profile of its shared AWS config`,
  password: `vCenter credentials do not apply to provider aws: ${CREDENTIAL_CHAIN}, and source.profile names a profile of its shared AWS config`,
  insecure: 'applies to a vCenter\'s TLS certificate, not to provider aws (AWS endpoints are always verified)',
};

/** Keys under `source` that would be credentials: refused rather than ignored, so nobody believes they were used. */
const CREDENTIAL_KEY = /secret|access.?key|session.?token|password|credential/i;

/** Fields the gateway reads from `source`; any other key is a warning (or, for credentials, a rejection). */
const SOURCE_KEYS = new Set(['region', 'profile']);

/**
 * The Python SDK and other clients send empty or false vCenter fields with every
 * job: only a value that asks for something is refused.
 */
function asksForSomething(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && value !== false;
}

/**
 * Checks the keys under `source` before the schema does: credential-like keys are
 * refused (they would be silently dropped otherwise), others warned about and dropped.
 */
export function normaliseSource(source: unknown, label: string, warnings: string[]): unknown {
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return source;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (SOURCE_KEYS.has(key)) kept[key] = value;
    else if (CREDENTIAL_KEY.test(key)) {
      throw new JobRejected(`${label}source.${key}: AWS credentials are never taken from a job: ${CREDENTIAL_CHAIN}; name a profile of its shared AWS config with source.profile`);
    } else warnings.push(`${label}source.${key}: unknown field, ignored (source takes region and profile)`);
  }
  return kept;
}

/** A vSphere job refuses the AWS-only fields instead of ignoring them. */
export function refuseAwsFields(job: JobDefinitionInput, label: string): void {
  if (job.source !== undefined) {
    throw new JobRejected(`${label}source: is for provider aws (region, profile); give provider: aws, or name a vCenter with profile or vcenter`);
  }
  if (job.options?.keep_snapshots !== undefined) {
    throw new JobRejected(`${label}options.keep_snapshots: is for provider aws (EBS snapshots); a vSphere export always removes the snapshot it took`);
  }
  if (job.options?.since_snapshot !== undefined) {
    throw new JobRejected(
      `${label}options.since_snapshot: is for provider aws (an incremental export reads the EBS blocks changed since an earlier snapshot); a vSphere export always reads whole disks`,
    );
  }
}

/**
 * An incremental export reads the earlier export's images back from its output and
 * replaces them: only a local output_path has them to read.
 */
export function refuseIncrementalToS3(job: JobDefinitionInput, output: string, label: string): void {
  if (job.options?.since_snapshot === undefined) return;
  throw new JobRejected(
    `${label}options.since_snapshot: an incremental export reads the earlier export's raw/qcow2 images back from its output and replaces them there, so it needs the local output_path that export wrote to, not ${output}`,
  );
}

export interface AwsJobParts {
  source: AwsSourceRef;
  /** What the worker looks up: the instance id, Name tag, volume or snapshot. */
  vmRef: string;
  format: ExportFormat;
  /** For ovf/ova: the image format of the disks the descriptor references (AWS volumes have no VMDK files). */
  diskImage?: ImageFormat;
}

/**
 * `/<region>/<ref>`, the path GET /vms/list shows for an instance, names the
 * instance and its region; anything else is the reference itself.
 */
export function splitListedAwsPath(vmPath: string): { ref: string; region?: string } {
  const listed = /^\/([^/]+)\/([^/]+)\/?$/.exec(vmPath);
  if (listed && isAwsRegion(listed[1]!)) return { region: listed[1]!, ref: listed[2]! };
  return { ref: vmPath };
}

/** The disks of an AWS OVF/OVA: qcow2, KVM-ready and storing only the blocks that hold data. */
const AWS_OVF_DISK_IMAGE: ImageFormat = 'qcow2';

/**
 * raw, qcow2 and vhd as asked (each with an OVF descriptor beside the images); ovf
 * and ova describe the instance with qcow2 disks. Without a format: the configured
 * default when it is an image format, else qcow2 (ovf's files under another name).
 */
function formatOf(requested: JobDefinitionInput['format'], fallback: ExportFormat, label: string): Pick<AwsJobParts, 'format' | 'diskImage'> {
  if (requested === undefined) return { format: imageFormatOf(fallback) ?? 'qcow2' };
  if (requested === 'vmdk') {
    throw new JobRejected(
      `${label}format: vmdk is the source's own VMDK disk files, and EBS volumes have none: give qcow2, raw or vhd (images), or ovf or ova (the instance described with qcow2 disks)`,
    );
  }
  const image = imageFormatOf(requested);
  return image ? { format: image } : { format: requested, diskImage: AWS_OVF_DISK_IMAGE };
}

function checkMethod(requested: JobDefinitionInput['export_method'], field: string, label: string): void {
  if (requested === undefined || requested === '' || requested === 'auto') return;
  throw new JobRejected(`${label}${field}: "${requested}" is a vSphere export method; an AWS export always reads EBS snapshot blocks (auto): leave ${field} out or give auto`);
}

/**
 * Validates an AWS job and returns its source, reference and format. `methodField`
 * is the field the client named the method with (export_method or method).
 */
export function awsJobParts(config: HyperConfig, job: JobDefinitionInput, label: string, methodField: string): AwsJobParts {
  for (const [field, why] of Object.entries(VSPHERE_ONLY)) {
    if (asksForSomething(job[field as keyof typeof VSPHERE_ONLY])) throw new JobRejected(`${label}${field}: ${why}`);
  }
  checkMethod(job.export_method, methodField, label);
  const formats = formatOf(job.format, config.defaults.format, label);
  if (formats.format === 'ova' && job.options?.since_snapshot !== undefined) {
    throw new JobRejected(
      `${label}options.since_snapshot: an incremental export updates the disk images an earlier export left in its output, and an OVA holds them inside one archive: give format qcow2, raw or ovf`,
    );
  }

  const { ref, region: listedRegion } = splitListedAwsPath(job.vm_path);
  if (ref.length > 256) {
    throw new JobRejected(
      `${label}vm_path: must be an instance id (i-...), an instance's Name tag (at most 256 characters), a volume (vol-...) or a snapshot (snap-...)`,
    );
  }
  const given = job.source?.region;
  if (given !== undefined && listedRegion !== undefined && given !== listedRegion) {
    throw new JobRejected(`${label}vm_path: names region ${listedRegion} but source.region is ${given}: give one region`);
  }
  const region = given ?? listedRegion ?? config.aws?.region;
  if (region === undefined) {
    throw new JobRejected(
      `${label}source.region: is required for provider aws: give source.region (e.g. us-east-1), or set aws.region (AWS_REGION) in the daemon's configuration`,
    );
  }
  const problem = awsRegionProblem(region);
  if (problem) throw new JobRejected(`${label}source.region: not given, and the daemon's default aws.region ${problem}; give source.region`);
  const profile = job.source?.profile;
  return { source: { provider: 'aws', region, ...(profile ? { profile } : {}) }, vmRef: ref, ...formats };
}
