// How EC2's words become the neutral VM description's: power states, firmware,
// guest OS, disk controllers and slots, NICs. Pure functions, so the choices are
// tested on their own (hardware.test.ts) and explained once, here.
import type { InstanceBlockDeviceMapping, InstanceNetworkInterface } from '@aws-sdk/client-ec2';
import type { Firmware, NicDescription, PowerState } from '../../core/vm-description.js';

/**
 * running → poweredOn, stopped → poweredOff. In between, what matters is whether the
 * disks may still change: pending (booting), stopping and shutting-down instances
 * still run their guest, so they are on; terminated ones are off (and never listed).
 */
export function powerStateOf(state: string | undefined): PowerState {
  return state === 'stopped' || state === 'terminated' ? 'poweredOff' : 'poweredOn';
}

function bootModeFirmware(mode: string | undefined, typeSupportsUefi: boolean): Firmware | undefined {
  if (mode === 'uefi') return 'efi';
  if (mode === 'legacy-bios') return 'bios';
  // The AMI prefers UEFI and the instance type decides.
  if (mode === 'uefi-preferred') return typeSupportsUefi ? 'efi' : 'bios';
  return undefined;
}

export interface BootFacts {
  /** Instance.CurrentInstanceBootMode: how it actually booted, when EC2 says. */
  current?: string;
  /** Instance.BootMode: what its AMI asked for. */
  instance?: string;
  /** The AMI's BootMode (DescribeImages), asked only when the instance says neither. */
  image?: string;
  architecture?: string;
  /** The instance type's SupportedBootModes. */
  supported?: readonly string[];
}

/** efi or bios: the boot mode EC2 reports, else the AMI's, else arm64 (Graviton boots UEFI only) → efi, else bios. */
export function firmwareOf(facts: BootFacts): Firmware {
  const uefi = facts.supported?.includes('uefi') ?? false;
  return (
    bootModeFirmware(facts.current, uefi) ??
    bootModeFirmware(facts.instance, uefi) ??
    bootModeFirmware(facts.image, uefi) ??
    (facts.architecture === 'arm64' ? 'efi' : 'bios')
  );
}

/** vSphere-style guest ids, which the OVF writer maps to CIM OS ids: EC2 only tells Windows from the rest. */
export function guestOf(
  platform: string | undefined,
  platformDetails: string | undefined,
  architecture: string | undefined,
): { guestId: string; guestFullName: string } {
  const windows = platform?.toLowerCase() === 'windows';
  const name = platformDetails || (windows ? 'Windows' : 'Linux/UNIX');
  return {
    guestId: windows ? 'windows9Server64Guest' : 'otherLinux64Guest',
    guestFullName: architecture && architecture !== 'x86_64' ? `${name} (${architecture})` : name,
  };
}

/**
 * The controller the disks sit on in the OVF. Nitro instances present EBS volumes
 * as NVMe namespaces, and the OVF writer maps 'nvme'. Xen instances use Xen's
 * paravirtual block device (blkfront), which no OVF controller names; 'pvscsi' (a
 * paravirtual SCSI controller, "VirtualSCSI" in the OVF) is the nearest: the guest
 * needs paravirtual (virtio) drivers on KVM either way, and hyper2kvm injects them.
 * An instance type EC2 cannot describe is taken as Nitro, as every current type is.
 */
export function controllerTypeOf(hypervisor: string | undefined): 'nvme' | 'pvscsi' {
  return hypervisor === 'xen' ? 'pvscsi' : 'nvme';
}

/** Disks per controller: an NVMe controller has 15 namespaces, a (PV)SCSI one 15 targets (unit 7 is the controller's own). */
const DISKS_PER_CONTROLLER = 15;
const CONTROLLER_KEY_BASE = 1000;

/** The controller and slot of the `index`-th disk: one controller for up to 15 disks, unit = index (SCSI skips unit 7). */
export function diskSlot(
  index: number,
  controllerType: string,
): { controllerKey: number; unitNumber: number } {
  const bus = Math.floor(index / DISKS_PER_CONTROLLER);
  const within = index % DISKS_PER_CONTROLLER;
  const unitNumber = controllerType === 'nvme' || within < 7 ? within : within + 1;
  return { controllerKey: CONTROLLER_KEY_BASE + bus, unitNumber };
}

const byDeviceName = new Intl.Collator('en', { numeric: true });

/**
 * The instance's EBS volumes in device order: the root device first, then by device
 * name (/dev/sdf before /dev/sdg, /dev/sdb2 before /dev/sdb10). Instance-store
 * (ephemeral) volumes never appear in BlockDeviceMappings with an Ebs part and
 * cannot be snapshotted: they are not exported.
 */
export function orderedEbsDevices(
  mappings: readonly InstanceBlockDeviceMapping[],
  rootDeviceName: string | undefined,
): { device: string; volumeId: string }[] {
  const devices = mappings.flatMap((m) =>
    m.DeviceName && m.Ebs?.VolumeId ? [{ device: m.DeviceName, volumeId: m.Ebs.VolumeId }] : [],
  );
  const isRoot = (device: string) =>
    rootDeviceName !== undefined &&
    (device === rootDeviceName || rootDeviceName.replace(/\d+$/, '') === device);
  return devices.sort(
    (a, b) => Number(isRoot(b.device)) - Number(isRoot(a.device)) || byDeviceName.compare(a.device, b.device),
  );
}

/**
 * NICs in attachment order (network card, then device index): eth0 is the primary
 * interface. ENA and Xen netfront have no KVM counterpart; 'virtio' is what the
 * migrated guest gets (the OVF writer writes the type as given, and hyper2kvm's
 * default for KVM is virtio).
 */
export function nicsOf(interfaces: readonly InstanceNetworkInterface[]): NicDescription[] {
  const attached = [...interfaces].sort(
    (a, b) =>
      (a.Attachment?.NetworkCardIndex ?? 0) - (b.Attachment?.NetworkCardIndex ?? 0) ||
      (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0),
  );
  return attached.map((eni, i) => ({
    key: i,
    label: `eth${i}`,
    macAddress: eni.MacAddress ?? '',
    network: eni.SubnetId ?? eni.VpcId ?? '',
    adapterType: 'virtio',
  }));
}

/** The Name tag, the name AWS's console shows. */
export function nameTag(tags: readonly { Key?: string; Value?: string }[] | undefined): string | undefined {
  const value = tags?.find((t) => t.Key === 'Name')?.Value;
  return value ? value : undefined;
}
