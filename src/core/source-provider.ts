// The source-platform contract. The export workflow and its activities speak only
// this interface, so AWS, Azure and GCP providers can be added later without
// touching the workflow. Everything here is plain JSON: descriptions travel through
// Temporal as activity results.
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

export interface LeaseDevice {
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

export interface ExportLease {
  /** Provider handle of the lease (vSphere: HttpNfcLease managed object id). */
  id: string;
  devices: LeaseDevice[];
}

export type LeaseState = 'initializing' | 'ready' | 'done' | 'error';

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
  /** Graceful guest shutdown, polling up to `timeoutMs`; then a hard power-off. */
  powerOff(vmId: string, options: { graceful: boolean; timeoutMs: number }): Promise<void>;

  /** ExportVm / ExportSnapshot, waiting until the lease is ready (or fails). */
  openExportLease(target: ExportTarget): Promise<ExportLease>;
  leaseState(leaseId: string): Promise<LeaseState>;
  /** Keeps a lease alive (vSphere: HttpNfcLeaseProgress). */
  leaseProgress(leaseId: string, percent: number): Promise<void>;
  completeLease(leaseId: string): Promise<void>;
  abortLease(leaseId: string, reason?: string): Promise<void>;

  /**
   * How to read one disk `via` its file or a device of an open export session.
   * A device URL whose host the source did not name (vSphere: the vCenter or one
   * of its ESXi hosts) is refused (DeviceHostNotAllowed) before any session
   * secret is attached to it. Reading a file answers SourceRefused when the
   * source does not hold it, AuthenticationFailed when it refuses to serve it.
   */
  openDiskReader(vm: VmDescription, diskKey: number, via: DiskReadVia): Promise<DiskReader>;

  logout(): Promise<void>;
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
