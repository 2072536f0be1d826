// The export workflow's public contract: its input, its progress query and its
// result. The gateway, the CLIs and the worker all import these types; nothing
// else about the workflow is public. Everything is plain JSON and carries no secret.

export const EXPORT_WORKFLOW_TYPE = 'exportVmWorkflow';
export const PROGRESS_QUERY = 'progress';
export const DEFAULT_TASK_QUEUE = 'hypersdk-export';

/**
 * ovf / ova: the source's disks as VMDK files beside an OVF descriptor (in one
 * tar for ova). raw / qcow2 / vhd: each disk written as a KVM-ready image by the
 * transfer itself (sparse raw, qcow2 storing only allocated clusters, or a fixed
 * VHD: the sparse raw disk followed by its 512-byte footer, as Azure serves a
 * disk), beside an OVF descriptor that references them.
 */
export type ExportFormat = 'ovf' | 'ova' | 'raw' | 'qcow2' | 'vhd';

/** The formats whose disks are written as images (storage/image/), not as the source's bytes. */
export type ImageFormat = 'raw' | 'qcow2' | 'vhd';

export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw', 'qcow2', 'vhd'];

export function imageFormatOf(format: ExportFormat): ImageFormat | undefined {
  return (IMAGE_FORMATS as readonly string[]).includes(format) ? (format as ImageFormat) : undefined;
}

/**
 * The image format an export writes its disks in: raw or qcow2 for those formats,
 * the job's diskImage for an ovf/ova of a source with no disk files of its own
 * (AWS), none for the source's VMDK files.
 */
export function diskImageOf(input: Pick<ExportWorkflowInput, 'format' | 'diskImage'>): ImageFormat | undefined {
  return imageFormatOf(input.format) ?? input.diskImage;
}
/**
 * auto: per disk, the datastore method (ranged reads of the flat extent: resumable)
 * whenever the disk's backing is one flat extent with no parent that the datastore
 * serves, else the ExportVm/ExportSnapshot NFC lease (a stream that restarts from
 * zero if interrupted). ovf / datastore: that method for every disk.
 */
export type ExportMethod = 'auto' | 'ovf' | 'datastore';

/** How one disk is read, and why. */
export interface DiskMethod {
  diskKey: number;
  method: 'ovf' | 'datastore';
  /** e.g. "resumable", "stream: restarts from zero if interrupted, because the VM already had snapshots ...". */
  reason: string;
}

export interface ExportOptions {
  parallelDownloads: number;
  removeCdrom: boolean;
  /** For a powered-on VM: export a snapshot we create (and remove afterwards). */
  snapshot: boolean;
  /** For a powered-on VM: graceful shutdown, then hard power-off after the timeout. */
  powerOff: boolean;
  shutdownTimeoutSeconds: number;
  /**
   * Sources read from snapshots (AWS): keep the snapshots this export took
   * instead of deleting them at the end (a later incremental export starts from
   * one). The result names them.
   */
  keepSnapshots?: boolean;
  /**
   * Incremental export (AWS): an earlier snapshot of the same disks, as an
   * earlier export's result named it (keptSnapshot) or one snapshot id for a
   * one-disk source. Only the blocks changed since it are read, laid over that
   * export's images in the same output (local or S3), which the new images replace.
   */
  sinceSnapshot?: string;
}

/**
 * Where the worker finds credentials. A `profile` names an entry of the worker's
 * configuration; `sealedCredentials` is inline vCenter credentials encrypted by the
 * gateway with the shared secrets key (AES-256-GCM), opaque to Temporal.
 */
export type SourceRef = VsphereSourceRef | AwsSourceRef | AzureSourceRef;

export interface VsphereSourceRef {
  provider: 'vsphere';
  profile?: string;
  sealedCredentials?: string;
}

/**
 * An AWS region, read with the worker's own credentials from the standard AWS
 * chain (environment, shared config/profile, SSO, instance metadata): nothing
 * secret travels with the job. Endpoints follow AWS_ENDPOINT_URL_EC2 /
 * AWS_ENDPOINT_URL_EBS on the worker (private endpoints, tests).
 */
export interface AwsSourceRef {
  provider: 'aws';
  /** e.g. "eu-west-1". */
  region: string;
  /** A profile of the worker's shared AWS config (~/.aws/config); absent: the default chain. */
  profile?: string;
  /** Never set: AWS credentials never travel with a job (present for code that reads SourceRef fields). */
  sealedCredentials?: never;
}

export function isAwsSource(source: SourceRef): source is AwsSourceRef {
  return source.provider === 'aws';
}

/**
 * An Azure subscription, read with the worker's own credentials from the standard
 * Azure chain (@azure/identity: environment, workload or managed identity, Azure
 * CLI): nothing secret travels with the job. The VM is the job's vmPath: a full
 * resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.Compute/
 * virtualMachines/…), or a VM name in `resourceGroup` of `subscriptionId`.
 */
export interface AzureSourceRef {
  provider: 'azure';
  /** The subscription (a GUID) holding the VM. */
  subscriptionId: string;
  /** The VM's resource group; absent when vmPath is a full resource id. */
  resourceGroup?: string;
  /** Never set: Azure credentials never travel with a job (present for code that reads SourceRef fields). */
  sealedCredentials?: never;
}

export function isAzureSource(source: SourceRef): source is AzureSourceRef {
  return source.provider === 'azure';
}

export type SinkRef =
  | { kind: 'local'; /** absolute, already checked against the allowed roots */ directory: string }
  | { kind: 's3'; bucket: string; /** key prefix ending in "/" or empty */ prefix: string; profile?: string };

export interface ExportWorkflowInput {
  jobId: string;
  jobName: string;
  vmPath: string;
  format: ExportFormat;
  /**
   * For format ovf/ova: the disks are written as images of this format (the
   * descriptor references them, the OVA holds them) instead of as the source's
   * VMDK files. Set for sources that have no disk files of their own (AWS).
   */
  diskImage?: ImageFormat;
  method: ExportMethod;
  options: ExportOptions;
  source: SourceRef;
  sink: SinkRef;
  /** The output path as the client gave it, for display (hyper2kvm reads it back). */
  outputPath: string;
  /**
   * Replace an earlier export's files of the same names, once this one has
   * succeeded. Without it an output holding such files is refused (OutputExists).
   */
  overwrite?: boolean;
  /**
   * Heartbeat timeout of the control and finalize activities (default 60 s). Not
   * in the REST API: tests reach the long-wait paths (snapshot, lease, OVA packing)
   * with short timeouts instead of waiting minutes.
   */
  controlHeartbeatTimeoutMs?: number;
  /**
   * Heartbeat timeout of the disk transfers (default 20 s): how long a killed
   * worker's transfer goes unnoticed before a retry resumes it. Not in the REST
   * API: the kill tests shorten it, with worker heartbeats every second.
   */
  transferHeartbeatTimeoutMs?: number;
  submittedAt: string;
}

export type ExportPhase =
  | 'pending'
  | 'connecting'
  | 'preparing'
  | 'leasing'
  | 'transferring'
  | 'finalizing'
  | 'cleaning_up'
  | 'completed'
  | 'failed'
  | 'cancelled';

export type DiskState = 'pending' | 'transferring' | 'done' | 'failed';

export interface DiskProgress {
  key: number;
  /** Output file name, e.g. "DC0_H0_VM0-disk-0.vmdk". */
  fileName: string;
  sizeBytes: number;
  /** Bytes committed when the workflow last heard (completed disks: their size). Live counts come from heartbeats. */
  bytesDone: number;
  state: DiskState;
  attempts: number;
  /** A verified copy from an earlier export of the same source was used. */
  reused?: boolean;
  /** How this disk is read (absent until the method is decided). */
  method?: 'ovf' | 'datastore';
  /** Why that method (see DiskMethod.reason). */
  methodReason?: string;
}

export interface ExportProgress {
  phase: ExportPhase;
  /** The job's method; with `auto` and disks read both ways, 'ovf' (a lease is open): each disk's own is in disks[].method. */
  method?: 'ovf' | 'datastore';
  vmName?: string;
  disks: DiskProgress[];
  startedAt: string;
  updatedAt: string;
  error?: { type: string; message: string };
  /** After a failure: verified disks kept out of sight for a resubmit of the same VM to the same output. */
  kept?: string[];
}

export interface ExportedFile {
  /** Path relative to the output directory / prefix. */
  name: string;
  sizeBytes: number;
  /**
   * Absent for an OVA written in place: hashing the whole archive would read every
   * byte again (a minute per 128 GiB); its members are verified, and their SHA-256
   * are in `members` and in the manifest inside it.
   */
  sha256?: string;
}

export interface ExportResult {
  vmName: string;
  /** See ExportProgress.method; `diskMethods` has each disk's. */
  method: 'ovf' | 'datastore';
  /** How each disk was read and why (absent in results of exports from before it was recorded). */
  diskMethods?: (DiskMethod & { fileName: string })[];
  /** Local directory or s3://bucket/prefix. */
  outputDir: string;
  ovfPath: string;
  ovaPath?: string;
  manifestPath: string;
  files: ExportedFile[];
  /** For an OVA written in place: the archive's members (descriptor, manifest, disks) with their SHA-256. */
  members?: ExportedFile[];
  /**
   * The snapshot the export read and kept (options.keepSnapshots), as the
   * provider names it (AWS: "vol-…=snap-…" pairs, one per disk).
   */
  keptSnapshot?: string;
  /** An incremental export: the snapshot its changes were read since (options.sinceSnapshot). */
  sinceSnapshot?: string;
  totalSize: number;
  durationMs: number;
}

/** What a transfer activity heartbeats; the gateway reads it for live byte counts. */
export interface TransferHeartbeat {
  diskKey: number;
  bytesDone: number;
  sizeBytes: number;
  /** Opaque resume state of the transfer engine. */
  checkpoint?: unknown;
}
