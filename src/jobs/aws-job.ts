// The rules of a job with provider aws: what it reads (an instance, its Name tag, a
// volume or a snapshot, in a region), what it may produce (raw or qcow2 images),
// and the vSphere fields it refuses with what to use instead. Nothing secret is
// taken: the worker reads AWS with its own credential chain.
import { awsRegionProblem, isAwsRegion } from '../config/aws-region.js';
import type { HyperConfig } from '../config/types.js';
import type { AwsSourceRef } from '../core/export-contract.js';
import { checkAutoMethod, cloudJobFormat, keepSourceKeys, refuseVsphereFields, type CloudJobFormat, type VsphereField } from './cloud-job.js';
import { JobRejected } from './job-rejected.js';
import type { JobDefinitionInput } from './submit-schemas.js';

const CREDENTIAL_CHAIN = "AWS credentials come from the worker's AWS credential chain (environment, ~/.aws, instance role)";

/** The vSphere fields an AWS job refuses, and what to use instead. */
const VSPHERE_ONLY: Record<VsphereField, string> = {
  profile: `names a vCenter profile, which does not apply to provider aws: ${CREDENTIAL_CHAIN}; to use a profile of the worker's shared AWS config, give source.profile`,
  vcenter: `vCenter credentials do not apply to provider aws: ${CREDENTIAL_CHAIN}, and source.profile names a profile of its shared AWS config`,
  vcenter_url: `a vCenter URL does not apply to provider aws: give the AWS region as source.region`,
  username: `vCenter credentials do not apply to provider aws: ${CREDENTIAL_CHAIN}, and source.profile names a profile of its shared AWS config`,
  password: `vCenter credentials do not apply to provider aws: ${CREDENTIAL_CHAIN}, and source.profile names a profile of its shared AWS config`,
  insecure: 'applies to a vCenter\'s TLS certificate, not to provider aws (AWS endpoints are always verified)',
};

/** The keys of `source` an AWS job reads: others are warned about, credentials refused. */
export function normaliseAwsSource(source: unknown, label: string, warnings: string[]): unknown {
  return keepSourceKeys(
    source,
    ['region', 'profile'],
    label,
    warnings,
    `AWS credentials are never taken from a job: ${CREDENTIAL_CHAIN}; name a profile of its shared AWS config with source.profile`,
  );
}

/** since_snapshot is AWS's alone (EBS changed blocks). */
export function refuseSinceSnapshot(job: JobDefinitionInput, label: string, anExport: string): void {
  if (job.options?.since_snapshot !== undefined) {
    throw new JobRejected(
      `${label}options.since_snapshot: is for provider aws (an incremental export reads the EBS blocks changed since an earlier snapshot); ${anExport} always reads whole disks`,
    );
  }
}

/** A vSphere job refuses the cloud-only fields instead of ignoring them. */
export function refuseAwsFields(job: JobDefinitionInput, label: string): void {
  if (job.source !== undefined) {
    throw new JobRejected(
      `${label}source: is for providers aws (region, profile) and azure (subscription_id, resource_group); give provider: aws or azure, or name a vCenter with profile or vcenter`,
    );
  }
  if (job.options?.keep_snapshots !== undefined) {
    throw new JobRejected(`${label}options.keep_snapshots: is for providers aws and azure (the snapshots a cloud export takes); a vSphere export always removes the snapshot it took`);
  }
  refuseSinceSnapshot(job, label, 'a vSphere export');
}

export interface AwsJobParts extends CloudJobFormat {
  source: AwsSourceRef;
  /** What the worker looks up: the instance id, Name tag, volume or snapshot. */
  vmRef: string;
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

/**
 * Validates an AWS job and returns its source, reference and format. `methodField`
 * is the field the client named the method with (export_method or method).
 */
export function awsJobParts(config: HyperConfig, job: JobDefinitionInput, label: string, methodField: string): AwsJobParts {
  refuseVsphereFields(job, label, VSPHERE_ONLY);
  checkAutoMethod(job.export_method, methodField, label, 'an AWS export always reads EBS snapshot blocks');
  const formats = cloudJobFormat(job.format, config.defaults.format, label, 'EBS volumes have none');

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
