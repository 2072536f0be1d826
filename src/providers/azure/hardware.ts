// How Resource Manager's words become the neutral VM description's: power states,
// firmware, guest OS, VM size, disk order and slots, NICs. Pure functions, so the
// choices are tested on their own (hardware.test.ts) and explained once, here.
import type { DataDisk, InstanceViewStatus, OSDisk, ResourceSku, SecurityProfile } from '@azure/arm-compute';
import type { Firmware, NicDescription, PowerState } from '../../core/vm-description.js';

/**
 * The instance view's "PowerState/<state>" status: stopped and deallocated VMs are
 * off; starting, running, stopping and deallocating ones may still write their
 * disks, so they are on, as is a VM whose state Azure does not say.
 */
export function powerStateOf(statuses: readonly InstanceViewStatus[] | undefined): PowerState {
  const code = statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.slice('PowerState/'.length).toLowerCase();
  return code === 'stopped' || code === 'deallocated' ? 'poweredOff' : 'poweredOn';
}

/** Whether the VM is deallocated already (nothing to stop). */
export function isDeallocated(statuses: readonly InstanceViewStatus[] | undefined): boolean {
  return statuses?.some((s) => s.code?.toLowerCase() === 'powerstate/deallocated') ?? false;
}

/**
 * efi when the VM is a Trusted Launch or confidential VM (both UEFI only), says
 * UEFI settings, or is a generation 2 VM (its OS disk's or instance view's
 * hyperVGeneration V2); bios (generation 1) otherwise.
 */
export function firmwareOf(security: SecurityProfile | undefined, ...hyperVGenerations: (string | undefined)[]): Firmware {
  const type = security?.securityType?.toLowerCase();
  if (type === 'trustedlaunch' || type === 'confidentialvm' || security?.uefiSettings !== undefined) return 'efi';
  return hyperVGenerations.some((g) => g?.toUpperCase() === 'V2') ? 'efi' : 'bios';
}

/** vSphere-style guest ids, which the OVF writer maps to CIM OS ids: Azure tells Windows from Linux. */
export function guestOf(
  osType: string | undefined,
  image: { publisher?: string; offer?: string; sku?: string } | undefined,
  osName?: string,
  osVersion?: string,
): { guestId: string; guestFullName: string } {
  const windows = osType?.toLowerCase() === 'windows';
  const fromImage = [image?.publisher, image?.offer, image?.sku].filter((p) => p).join(' ');
  const reported = [osName, osVersion].filter((p) => p).join(' ');
  return {
    guestId: windows ? 'windows9Server64Guest' : 'otherLinux64Guest',
    guestFullName: reported || fromImage || (windows ? 'Windows' : 'Linux'),
  };
}

/** vCPUs and memory of a VM size, from the location's resource SKUs (capabilities vCPUs, MemoryGB). */
export function sizeOf(skus: readonly ResourceSku[], vmSize: string | undefined): { numCpu: number; memoryMb: number } {
  const sku = vmSize ? skus.find((s) => s.resourceType?.toLowerCase() === 'virtualmachines' && s.name?.toLowerCase() === vmSize.toLowerCase()) : undefined;
  const capability = (name: string) => Number(sku?.capabilities?.find((c) => c.name === name)?.value ?? NaN);
  const cpus = capability('vCPUsAvailable');
  const allCpus = capability('vCPUs');
  const memoryGb = capability('MemoryGB');
  return {
    numCpu: Number.isFinite(cpus) ? cpus : Number.isFinite(allCpus) ? allCpus : 0,
    memoryMb: Number.isFinite(memoryGb) ? Math.round(memoryGb * 1024) : 0,
  };
}

/** One disk of the VM, in export order. */
export interface VmDisk {
  /** "os" or "lun<N>": names the disk in labels and snapshot names. */
  slot: string;
  /** The managed disk's resource id; absent for an unmanaged (VHD in a storage account) or ephemeral OS disk. */
  managedDiskId?: string;
  name: string;
  /** Why it cannot be exported, when it cannot. */
  refusal?: string;
}

/** The OS disk, then the data disks by LUN (the order the guest sees them in, and the OVF lists them). */
export function orderedDisks(osDisk: OSDisk | undefined, dataDisks: readonly DataDisk[] | undefined): VmDisk[] {
  const disks: VmDisk[] = [];
  if (osDisk) {
    const name = osDisk.name ?? 'os';
    if (osDisk.diffDiskSettings) disks.push({ slot: 'os', name, refusal: `the OS disk ${name} is ephemeral (on the host's local storage): Azure cannot snapshot it` });
    else if (!osDisk.managedDisk?.id) disks.push({ slot: 'os', name, refusal: `the OS disk ${name} is an unmanaged VHD (${osDisk.vhd?.uri?.split('?')[0] ?? 'in a storage account'}): only managed disks are exported` });
    else disks.push({ slot: 'os', name, managedDiskId: osDisk.managedDisk.id });
  }
  for (const d of [...(dataDisks ?? [])].sort((a, b) => a.lun - b.lun)) {
    if (d.toBeDetached) continue;
    const name = d.name ?? `lun${d.lun}`;
    if (!d.managedDisk?.id) disks.push({ slot: `lun${d.lun}`, name, refusal: `data disk ${name} (LUN ${d.lun}) is an unmanaged VHD: only managed disks are exported` });
    else disks.push({ slot: `lun${d.lun}`, name, managedDiskId: d.managedDisk.id });
  }
  return disks;
}

/**
 * The controller the disks sit on in the OVF: NVMe for VMs whose disk controller
 * is NVMe, else Hyper-V's paravirtual SCSI (storvsc), for which 'pvscsi' (a
 * paravirtual SCSI controller, "VirtualSCSI" in the OVF) is the nearest: the guest
 * needs virtio drivers on KVM either way, and hyper2kvm injects them.
 */
export function controllerTypeOf(diskControllerType: string | undefined): 'nvme' | 'pvscsi' {
  return diskControllerType?.toLowerCase() === 'nvme' ? 'nvme' : 'pvscsi';
}

const DISKS_PER_CONTROLLER = 15;
const CONTROLLER_KEY_BASE = 1000;

/** The controller and slot of the `index`-th disk: one controller for up to 15 disks, unit = index (SCSI skips unit 7). */
export function diskSlot(index: number, controllerType: string): { controllerKey: number; unitNumber: number } {
  const within = index % DISKS_PER_CONTROLLER;
  return {
    controllerKey: CONTROLLER_KEY_BASE + Math.floor(index / DISKS_PER_CONTROLLER),
    unitNumber: controllerType === 'nvme' || within < 7 ? within : within + 1,
  };
}

/** The last segment of a resource id: its name. */
export function nameOfId(id: string | undefined): string {
  return id?.split('/').filter((p) => p).pop() ?? '';
}

/**
 * The VM's NICs, primary first, with the MAC address and network each one's
 * resource gives (`details`, by NIC id; network.ts). Without details a NIC keeps
 * its name as its network and an empty MAC, which the importer then assigns.
 */
export function nicsOf(
  interfaces: readonly { id?: string; primary?: boolean }[] | undefined,
  details: ReadonlyMap<string, { macAddress: string; network: string }> = new Map(),
): NicDescription[] {
  const ordered = [...(interfaces ?? [])].sort((a, b) => Number(b.primary ?? false) - Number(a.primary ?? false));
  return ordered.map((nic, i) => {
    const d = nic.id ? details.get(nic.id.toLowerCase()) : undefined;
    return { key: i, label: nameOfId(nic.id) || `eth${i}`, macAddress: d?.macAddress ?? '', network: d?.network || nameOfId(nic.id), adapterType: 'virtio' };
  });
}
