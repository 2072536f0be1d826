// Inputs and outputs of the export activities: plain JSON without secrets, because
// all of it is recorded in the workflow history.
import type { DiskMethod, ExportMethod, ExportOptions, ExportFormat, ExportedFile, ImageFormat, SinkRef, SourceRef } from '../core/export-contract.js';
import type { ExportSession, ExportTarget } from '../core/source-provider.js';
import type { VmDescription } from '../core/vm-description.js';
import type { OvaRegion } from '../formats/ova-layout.js';

export interface DescribeInput {
  source: SourceRef;
  vmPath: string;
}

export interface PrepareInput {
  jobId: string;
  source: SourceRef;
  vm: VmDescription;
  options: ExportOptions;
}

export interface PreparedExport {
  target: ExportTarget;
  /** Snapshot this export created; cleanup removes it. */
  createdSnapshotId?: string;
  poweredOff: boolean;
}

export interface ChooseMethodsInput {
  source: SourceRef;
  /** The description taken before prepareExport: its backing files are what the datastore serves (the frozen base under the job's own snapshot). */
  vm: VmDescription;
  target: ExportTarget;
  /** Only these disks (a re-probe after a lost export session); every disk when absent. */
  diskKeys?: number[];
}

export interface OpenSessionInput {
  source: SourceRef;
  target: ExportTarget;
}

export interface SessionInput {
  source: SourceRef;
  /** The export session's id. Named for vSphere's lease, the first kind of session: histories of running exports carry the field. */
  leaseId: string;
}

export interface KeepSessionAliveInput extends SessionInput {
  intervalMs: number;
}

export interface TransferDiskInput {
  jobId: string;
  /** What is being exported (the VM as it is, or the job's snapshot): part of the disk's identity. */
  target?: ExportTarget;
  source: SourceRef;
  sink: SinkRef;
  vm: VmDescription;
  diskKey: number;
  fileName: string;
  sizeBytes: number;
  mode: Exclude<ExportMethod, 'auto'>;
  /** ovf mode: the export session the device URL belongs to (the field keeps its recorded name, see SessionInput). */
  leaseId?: string;
  deviceUrl?: string;
  sslThumbprint?: string;
  /** Checkpoint carried over from an attempt on a session that was lost. */
  resumeFrom?: unknown;
  /** An OVA written in place: the disk goes straight into this region of the archive's partial. */
  ova?: { name: string; region: OvaRegion };
  /** Format raw, qcow2 or vhd: the disk is written as that image (virtual size: the disk's capacity). */
  image?: { format: ImageFormat; virtualSize: number };
  /** Incremental: the changes since this snapshot, laid over the image of the same name already in the output. */
  since?: string;
  /** Incremental to an OVA: the earlier image is the member of this name's archive (the OVA the new one replaces). */
  sinceArchive?: string;
}

/**
 * An OVA written in place (every disk's size known before its transfer): the
 * archive's layout, recomputable from these plain numbers by every activity.
 */
export interface OvaPlan {
  /** The archive's file name in the sink, e.g. "vm.ova". */
  name: string;
  /** Modification time of the members (seconds): from the job, so retries plan the same bytes. */
  mtime: number;
  /** Exact sizes of the descriptor and of every disk, in vm.disks order. */
  descriptorBytes: number;
  diskBytes: number[];
  /** Where each disk's data goes, in vm.disks order. */
  regions: OvaRegion[];
  totalBytes: number;
}

export interface PrepareOvaInput {
  jobId: string;
  source: SourceRef;
  sink: SinkRef;
  vm: VmDescription;
  removeCdrom: boolean;
  mtime: number;
}

export interface TransferredDisk {
  diskKey: number;
  fileName: string;
  bytes: number;
  sha256: string;
  resumedFromOffset: number;
  restartedFromZero: boolean;
  /** A verified copy left by an earlier job from the same source was used: no byte moved. */
  reused?: boolean;
}

export interface CheckOutputInput {
  sink: SinkRef;
  /** Every final name the export will publish. */
  names: string[];
  overwrite: boolean;
  /** Format ova: the archive the export packs (in a local directory only). */
  archive?: string;
}

export interface FinalizeInput {
  jobId: string;
  sink: SinkRef;
  vm: VmDescription;
  disks: TransferredDisk[];
  format: ExportFormat;
  /** Format ovf/ova whose disks were written as images of this format (ExportWorkflowInput.diskImage). */
  diskImage?: ImageFormat;
  removeCdrom: boolean;
  /** How the disks were read: decides the disk format the OVF declares. */
  method: Exclude<ExportMethod, 'auto'>;
  /** Method `auto`, per disk: how each one was read (overrides `method` for that disk's format). */
  diskMethods?: DiskMethod[];
  /** The disks are already inside this archive: write its headers and publish it. */
  ova?: OvaPlan;
  /**
   * Format ova without an in-place plan: pack the archive from the staged disks,
   * resumably, its members stamped with this mtime (seconds; from the job, so every
   * attempt plans the same bytes). Absent (exports started before): packed as before.
   */
  packMtime?: number;
  /** Without it, a final name that appeared since checkOutput (another export) is refused, never replaced. */
  overwrite?: boolean;
}

export interface FinalizedExport {
  outputDir: string;
  ovfPath: string;
  manifestPath: string;
  ovaPath?: string;
  files: ExportedFile[];
  /** An OVA written in place: its members with their SHA-256. */
  members?: ExportedFile[];
}

export interface CleanupInput {
  source: SourceRef;
  sink: SinkRef;
  /** The export session to release, aborted unless leaseCompleted (recorded field names, see SessionInput). */
  leaseId?: string;
  /** The session was already released as completed: nothing to abort. */
  leaseCompleted: boolean;
  createdSnapshotId?: string;
  /** A snapshot the job keeps (keepSnapshots, after success): it stays, but the read access the export was given ends. */
  keptSnapshotId?: string;
  /** Staged disks of this export to clean up (absent: leave the output alone, e.g. a session reopen). */
  files?: {
    jobId: string;
    /** The export's disk names; only the staged copies whose record names jobId are touched. */
    disks: string[];
    /** Failure: keep verified disks for a later job. Cancellation: remove everything this job created. */
    keepVerified: boolean;
  };
}

export interface CleanupResult {
  /** Verified disks left staged for a later export of the same source. */
  kept: string[];
}

/**
 * The activities the export workflow schedules. The worker builds them with
 * createExportActivities(deps); the workflow sees only this type.
 *
 * The names are activity types, recorded in the history of every running export,
 * so they stay as first named, after vSphere's lease: openLease, keepLeaseAlive and
 * completeLease open, keep alive and complete any source's export session.
 */
export interface ExportActivities {
  describeVm(input: DescribeInput): Promise<VmDescription>;
  prepareExport(input: PrepareInput): Promise<PreparedExport>;
  /** Method `auto`: per disk, the file read when it can serve the disk (resumable), else the export session's stream; with the reason. */
  chooseMethods(input: ChooseMethodsInput): Promise<DiskMethod[]>;
  /** Opens the export session, waiting until it is ready. */
  openLease(input: OpenSessionInput): Promise<ExportSession>;
  /** Runs until cancelled, keeping the session alive; fails with LeaseLost when the session dies. */
  keepLeaseAlive(input: KeepSessionAliveInput): Promise<void>;
  /** Releases the session as completed: every disk is in the sink. */
  completeLease(input: SessionInput): Promise<void>;
  /**
   * For format ova: plans the archive and creates its partial when every disk's
   * size is known before the transfers (datastore reads); null when it is not, and
   * the OVA is packed after the transfers instead.
   */
  prepareOva(input: PrepareOvaInput): Promise<OvaPlan | null>;
  transferDisk(input: TransferDiskInput): Promise<TransferredDisk>;
  finalizeExport(input: FinalizeInput): Promise<FinalizedExport>;
  /** Refuses (OutputExists) an output that already holds files with the export's names, unless overwrite. */
  checkOutput(input: CheckOutputInput): Promise<void>;
  cleanupExport(input: CleanupInput): Promise<CleanupResult>;
}
