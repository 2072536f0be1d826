// The source-platform contract. The export workflow and its activities speak only
// this interface, so AWS, Azure and GCP providers can be added later without
// touching the workflow. Everything here is plain JSON: descriptions travel through
// Temporal as activity results.
import type { ExtentSource } from './extent-source.js';
import type { VmDescription, VmRef, VmStateChange, VmSummary } from './vm-description.js';

/** A source a disk can be read from over HTTP(S), with Range support where the server has it. */
export interface DiskSource {
  url: string;
  /** Headers to send (session cookie for datastore URLs). Secrets: never log these. */
  headers: Record<string, string>;
  /** Expected size in bytes when known (NFC device URLs report it, datastore files do via HEAD). */
  sizeBytes?: number;
  /** SHA-1 or SHA-256 thumbprint of the serving host's certificate, when known (pinning). */
  sslThumbprint?: string;
  /** HTTP validators of the file (datastore HEAD): they change when its content does. */
  validators?: { etag?: string; lastModified?: string };
}

/**
 * How a disk is best read, and why: from its file when ranged reads of the file
 * are the disk (resumable), else as a stream of the export session.
 */
export interface DiskReadPlan {
  diskKey: number;
  via: 'file' | 'session';
  /** e.g. "resumable", "stream: restarts from zero if interrupted, because the VM already had snapshots ...". */
  reason: string;
}

/** Which way one disk is read: its own file, or a device URL of an open export session (vSphere: the NFC lease). */
export type DiskReadVia =
  | { kind: 'file' }
  | { kind: 'device'; url: string; sizeBytes?: number; sslThumbprint?: string };

/**
 * How the transfer reads one disk, said by the source: the transfer knows the
 * platform only through this (vSphere's datastore file and NFC device today).
 */
export interface DiskReader {
  /** The HTTP(S) resource, with the headers it needs (secrets: never log them). */
  source: DiskSource;
  /** 'ranged': reads may start anywhere, so a retry continues from its checkpoint; 'stream': one pass from byte 0, a retry starts over. */
  reads: 'ranged' | 'stream';
  /** 'raw': byte i is the disk's byte i; 'sniff': a stream that may be a streamOptimized VMDK (told apart by its first bytes). */
  encoding: 'raw' | 'sniff';
  /**
   * The exact byte count the source will serve, known before the GET; the
   * transfer then fails (SizeMismatch) a response of any other size. Absent when
   * only an estimate exists (a generated stream's length exists only at its end).
   */
  exactBytes?: number;
}

export interface SessionDevice {
  /** Lease device id (vSphere: deviceId of HttpNfcLeaseDeviceUrl). */
  deviceId: string;
  /** Key of the VM disk this URL serves, when it is a disk. */
  diskKey?: number;
  /** File name the server suggests for the device (targetId), e.g. "disk-0.vmdk". */
  targetId?: string;
  url: string;
  sizeBytes?: number;
  sslThumbprint?: string;
  isDisk: boolean;
}

/** What lets a source's disks be read for a while (vSphere: the NFC export lease). */
export interface ExportSession {
  /** Provider handle of the session (vSphere: HttpNfcLease managed object id). */
  id: string;
  devices: SessionDevice[];
}

export type SessionState = 'initializing' | 'ready' | 'done' | 'error';

export type SessionOutcome = { completed: true } | { completed: false; reason?: string };

export type ExportTarget = { kind: 'vm'; vmId: string } | { kind: 'snapshot'; snapshotId: string };

/**
 * A connected session to one source platform. Implementations keep their own
 * session (cookie) and re-login transparently; every call has a timeout.
 */
export interface SourceProvider {
  listVms(): Promise<VmSummary[]>;
  describeVm(ref: VmRef): Promise<VmDescription>;

  createSnapshot(vmId: string, name: string, description?: string): Promise<string>;
  removeSnapshot(snapshotId: string): Promise<void>;
  /**
   * Ends the read access an export was given to a snapshot the job keeps (Azure:
   * RevokeAccess on each snapshot of the set). Absent where reading a snapshot
   * grants nothing that outlives the export (AWS).
   */
  endSnapshotAccess?(snapshotId: string): Promise<void>;
  /** Graceful guest shutdown, polling up to `timeoutMs`; then a hard power-off. */
  powerOff(vmId: string, options: { graceful: boolean; timeoutMs: number }): Promise<void>;

  /**
   * Opens what lets the disks be read while it lives, waiting until it is ready
   * (or fails): vSphere's NFC export lease (ExportVm / ExportSnapshot) and its
   * device URLs. A session must be kept alive while transfers run and released
   * at the end, whatever happened.
   */
  openExportSession(target: ExportTarget): Promise<ExportSession>;
  sessionState(sessionId: string): Promise<SessionState>;
  /** Keeps a session alive, reporting progress (vSphere: HttpNfcLeaseProgress). */
  keepSessionAlive(sessionId: string, percent: number): Promise<void>;
  /** Ends a session: completed after a successful export, else aborted with a reason. Ending one already gone is not an error. */
  releaseSession(sessionId: string, outcome: SessionOutcome): Promise<void>;

  /**
   * How to read one disk `via` its file or a device of an open export session.
   * A device URL whose host the source did not name (vSphere: the vCenter or one
   * of its ESXi hosts) is refused (DeviceHostNotAllowed) before any session
   * secret is attached to it. Reading a file answers SourceRefused when the
   * source does not hold it, AuthenticationFailed when it refuses to serve it.
   */
  openDiskReader(vm: VmDescription, diskKey: number, via: DiskReadVia): Promise<DiskReader>;
  /** How each disk (or those of `diskKeys`) is best read, deciding from the description and, where needed, asking the source. */
  planDiskReads(vm: VmDescription, diskKeys?: number[]): Promise<DiskReadPlan[]>;

  logout(): Promise<void>;

  /**
   * Sources whose disks are read only from snapshots (AWS: the EBS direct APIs
   * read snapshots, never live volumes): true when prepare must take one for
   * `vm`, whatever its power state (false for a source that already is a
   * snapshot). Absent: a powered-off VM is read as it is (vSphere).
   */
  requiresSnapshot?(vm: VmDescription): boolean;

  /**
   * Sources read as extents (AWS: EBS snapshot blocks): the disk `diskKey` of
   * `target` with its allocation map, read by the transfer's extent engine
   * instead of an HTTP DiskReader. Absent: openDiskReader is how disks are read.
   * With `since` (an earlier snapshot of the same disks, as ExportOptions.sinceSnapshot
   * names it), only the extents that changed since it, for an incremental export.
   */
  openExtentSource?(vm: VmDescription, diskKey: number, target: ExportTarget, options?: { since?: string }): Promise<ExtentSource>;
}

/**
 * Changes a source can make to a VM on request, each bounded by `timeoutMs`.
 * Optional: a provider without them answers OperationNotSupported.
 */
export interface VmStateOperations {
  /** Asks the guest OS to shut down (needs VMware Tools), then waits until the VM is off. */
  shutdownGuest(ref: VmRef, timeoutMs: number): Promise<VmStateChange>;
  /** Hard power-off; a VM already off is left alone. */
  hardPowerOff(ref: VmRef, timeoutMs: number): Promise<VmStateChange>;
  /** Removes every CD/DVD drive from the VM's hardware. */
  removeCdroms(ref: VmRef, timeoutMs: number): Promise<VmStateChange>;
}
