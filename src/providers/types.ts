// The source-platform contract. The export workflow and its activities speak only
// this interface, so AWS, Azure and GCP providers can be added later without
// touching the workflow. Everything here is plain JSON: descriptions travel through
// Temporal as activity results.

export type PowerState = 'poweredOn' | 'poweredOff' | 'suspended';
export type Firmware = 'bios' | 'efi';

/** One line of a VM list (hyperctl vms list, GET /vms/list). */
export interface VmSummary {
  /** Provider-local stable id (vSphere: managed object id, e.g. "vm-42"). */
  id: string;
  name: string;
  /** Inventory path, e.g. "/DC0/vm/folder/DC0_H0_VM0". */
  path: string;
  powerState: PowerState;
  guestId: string;
  guestFullName: string;
  numCpu: number;
  memoryMb: number;
  /** Sum of the capacities of the VM's disks. */
  storageBytes: number;
}

export interface DiskDescription {
  /** Device key, unique within the VM (vSphere: 2000, 2001, ...). */
  key: number;
  label: string;
  capacityBytes: number;
  /** Provider path of the backing file, e.g. "[LocalDS_0] DC0_H0_VM0/disk1.vmdk". */
  backingFile: string;
  datastore: string;
  thin: boolean;
  controllerKey: number;
  /** Controller type, e.g. "lsilogic", "pvscsi", "ide", "sata", "nvme". */
  controllerType: string;
  unitNumber: number;
  /**
   * What backs the disk, e.g. vSphere "VirtualDiskFlatVer2BackingInfo" (a flat
   * extent), "VirtualDiskSparseVer2BackingInfo", "VirtualDiskRawDiskMappingVer1BackingInfo".
   * Absent in descriptions recorded before it was read.
   */
  backingType?: string;
  /** The backing's parent file (a snapshot delta's base): the disk is a chain, not one extent. */
  backingParent?: string;
}

export interface NicDescription {
  key: number;
  label: string;
  macAddress: string;
  network: string;
  /** e.g. "vmxnet3", "e1000", "e1000e". */
  adapterType: string;
}

export interface CdromDescription {
  key: number;
  label: string;
  /** ISO path when the drive is backed by an image. */
  isoFile?: string;
}

export interface VmDescription extends VmSummary {
  provider: 'vsphere';
  instanceUuid: string;
  biosUuid: string;
  firmware: Firmware;
  hasSnapshots: boolean;
  datacenter: string;
  disks: DiskDescription[];
  nics: NicDescription[];
  cdroms: CdromDescription[];
}

/** How to find a VM: inventory path, name, managed object id or UUID (tried in that order). */
export type VmRef = string;

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

  /** Direct download of a disk's backing file (datastore /folder URL carrying the session). */
  datastoreDiskSource(vm: VmDescription, diskKey: number): Promise<DiskSource>;
  /** Headers (session cookie) needed to GET lease device URLs. */
  downloadHeaders(): Record<string, string>;
  /**
   * Refuses (DeviceHostNotAllowed) a download URL whose host the source did not
   * name (vSphere: the vCenter or one of its ESXi hosts). Call before sending
   * downloadHeaders() anywhere.
   */
  checkDownloadUrl?(url: string): Promise<void>;

  logout(): Promise<void>;
}

/** What a VM operation did (REST /vms/shutdown, /vms/poweroff, /vms/remove-cdrom). */
export interface VmStateChange {
  vmId: string;
  vmName: string;
  /** false: the VM already was as asked (off, or without CD-ROM drives). */
  changed: boolean;
  powerState: PowerState;
  /** Labels of the CD-ROM drives removed (removeCdroms). */
  removedCdroms?: string[];
  /** One sentence for the user. */
  message: string;
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
