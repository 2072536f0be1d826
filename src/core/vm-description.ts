// What a VM is, as every source describes it: its summary line, hardware (disks,
// NICs, CD-ROMs, firmware) and the outcome of a change made to it. Plain JSON:
// descriptions travel through Temporal as activity results and workflow code reads them.

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
  /** AWS: the EBS snapshot that is this disk (a source named by its snapshot); absent for volumes, which are snapshotted by prepare. */
  snapshotId?: string;
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
  provider: 'vsphere' | 'aws' | 'azure';
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
