// A ref → the neutral VM description. A source is an instance (its EBS volumes are
// its disks), one volume, or one snapshot (read as it is, no snapshot to take).
//
// Refs: an instance id (i-…), a volume id (vol-…), a snapshot id (snap-…), the path
// a description gives (/<region>/<id>), or an instance's Name tag (exactly one live
// instance must carry it). Ids are looked up first; an id-shaped ref EC2 does not
// know is tried as a Name before it is reported missing.
import { INSTANCE_ID, SNAPSHOT_ID, VOLUME_ID } from '../../core/aws-ids.js';
import type { Instance, InstanceTypeInfo, Snapshot, Volume } from '@aws-sdk/client-ec2';
import type { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';
import type { DiskDescription, VmDescription, VmSummary } from '../../core/vm-description.js';
import { failure, isNotFound } from './errors.js';
import {
  controllerTypeOf,
  diskSlot,
  firmwareOf,
  guestOf,
  nameTag,
  nicsOf,
  orderedEbsDevices,
  powerStateOf,
} from './hardware.js';
import type { Ec2Inventory } from './inventory.js';

const GiB = 2 ** 30;

export type SourceKind = 'instance' | 'volume' | 'snapshot';

const ID_PATTERNS: [SourceKind, RegExp][] = [
  ['instance', INSTANCE_ID],
  ['volume', VOLUME_ID],
  ['snapshot', SNAPSHOT_ID],
];

/** What an id names, by its prefix; undefined for anything else (a Name tag). */
export function sourceKindOf(id: string): SourceKind | undefined {
  return ID_PATTERNS.find(([, re]) => re.test(id))?.[0];
}

/** A description's path: /<region>/<id>. */
export function pathOf(region: string, id: string): string {
  return `/${region}/${id}`;
}

export async function describeRef(inv: Ec2Inventory, ref: string): Promise<VmDescription> {
  const region = inv.region;
  let name = ref.trim();
  const path = /^\/([^/]+)\/(.+)$/.exec(name);
  if (path) {
    if (path[1] !== region) {
      throw failure(
        ErrorType.VmNotFound,
        `AWS: "${ref}" is in region ${path[1]}, and this source reads ${region}`,
        true,
      );
    }
    name = path[2]!;
  }
  if (name === '') throw failure(ErrorType.InvalidInput, `AWS ${region}: an empty VM reference`, true);
  const kind = sourceKindOf(name);
  if (kind) {
    try {
      if (kind === 'instance') return await describeInstance(inv, await liveInstance(inv, name));
      if (kind === 'volume') return await describeVolume(inv, await inv.volume(name));
      return describeSnapshot(region, await inv.snapshot(name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const named = await inv.instancesNamed(name);
      if (named.length === 0) throw err; // it says which region, and why (unknown, terminated)
      return describeInstance(inv, oneOf(region, ref, named));
    }
  }
  return describeInstance(inv, oneOf(region, ref, await inv.instancesNamed(name)));
}

function notFound(region: string, ref: string): ApplicationFailure {
  return failure(
    ErrorType.VmNotFound,
    `AWS ${region}: no instance, volume or snapshot "${ref}" (by id, or an instance's Name tag)`,
    true,
  );
}

function oneOf(region: string, ref: string, named: Instance[]): Instance {
  if (named.length === 1) return named[0]!;
  if (named.length === 0) throw notFound(region, ref);
  const ids = named.map((i) => i.InstanceId).join(', ');
  throw failure(
    ErrorType.InvalidInput,
    `AWS ${region}: ${named.length} instances are named "${ref}" (${ids}): name the one to export by its instance id`,
    true,
  );
}

async function liveInstance(inv: Ec2Inventory, id: string): Promise<Instance> {
  const instance = await inv.instance(id);
  if (instance.State?.Name === 'terminated')
    throw failure(ErrorType.VmNotFound, `AWS ${inv.region}: instance "${id}" is terminated`, true);
  return instance;
}

/** The summary fields of an instance (listVms and describe share them). */
function instanceSummary(
  region: string,
  instance: Instance,
  type: InstanceTypeInfo | undefined,
  storageBytes: number,
): VmSummary {
  const id = instance.InstanceId ?? '';
  const cpu = instance.CpuOptions;
  return {
    id,
    name: nameTag(instance.Tags) ?? id,
    path: pathOf(region, id),
    powerState: powerStateOf(instance.State?.Name),
    ...guestOf(instance.Platform, instance.PlatformDetails, instance.Architecture),
    numCpu:
      cpu?.CoreCount && cpu.ThreadsPerCore
        ? cpu.CoreCount * cpu.ThreadsPerCore
        : (type?.VCpuInfo?.DefaultVCpus ?? 0),
    memoryMb: type?.MemoryInfo?.SizeInMiB ?? 0,
    storageBytes,
  };
}

export async function describeInstance(inv: Ec2Inventory, instance: Instance): Promise<VmDescription> {
  const id = instance.InstanceId ?? '';
  const devices = orderedEbsDevices(instance.BlockDeviceMappings ?? [], instance.RootDeviceName);
  const typeName = instance.InstanceType ?? '';
  const needImage = !instance.CurrentInstanceBootMode && !instance.BootMode;
  const [types, volumes, imageBootMode] = await Promise.all([
    inv.instanceTypes([typeName]),
    inv.volumes(devices.map((d) => d.volumeId)),
    needImage ? inv.imageBootMode(instance.ImageId) : Promise.resolve(undefined),
  ]);
  const type = types.get(typeName);
  const controllerType = controllerTypeOf(type?.Hypervisor);
  const disks = devices.map(({ device, volumeId }, i): DiskDescription => {
    const volume = volumes.get(volumeId);
    if (!volume) {
      throw failure(
        ErrorType.SourceChanged,
        `AWS ${inv.region}: volume ${volumeId} (${device} of ${id}) disappeared while the instance was described`,
        false,
      );
    }
    return volumeDisk(i, volume, device, controllerType);
  });
  const storageBytes = disks.reduce((sum, d) => sum + d.capacityBytes, 0);
  return {
    ...instanceSummary(inv.region, instance, type, storageBytes),
    provider: 'aws',
    instanceUuid: id,
    biosUuid: '',
    firmware: firmwareOf({
      current: instance.CurrentInstanceBootMode,
      instance: instance.BootMode,
      image: imageBootMode,
      architecture: instance.Architecture,
      supported: type?.SupportedBootModes,
    }),
    hasSnapshots: false,
    datacenter: inv.region,
    disks,
    nics: nicsOf(instance.NetworkInterfaces ?? []),
    cdroms: [],
  };
}

function volumeDisk(index: number, volume: Volume, label: string, controllerType: string): DiskDescription {
  return {
    key: index,
    label,
    capacityBytes: (volume.Size ?? 0) * GiB,
    backingFile: volume.VolumeId ?? '',
    datastore: volume.AvailabilityZone ?? '',
    thin: true,
    ...diskSlot(index, controllerType),
    controllerType,
    backingType: `ebs:${volume.VolumeType ?? 'unknown'}`,
  };
}

/** One volume as a source: its one disk; on while the instance it is attached to runs. */
export async function describeVolume(inv: Ec2Inventory, volume: Volume): Promise<VmDescription> {
  const id = volume.VolumeId ?? '';
  const attachment = volume.Attachments?.find(
    (a) => a.InstanceId && (a.State === 'attached' || a.State === 'attaching'),
  );
  let instance: Instance | undefined;
  if (attachment?.InstanceId) {
    try {
      instance = await inv.instance(attachment.InstanceId);
    } catch (err) {
      if (!isNotFound(err)) throw err; // terminated since: the volume is as good as detached
    }
  }
  const type = instance?.InstanceType
    ? (await inv.instanceTypes([instance.InstanceType])).get(instance.InstanceType)
    : undefined;
  const disk = volumeDisk(0, volume, attachment?.Device ?? id, controllerTypeOf(type?.Hypervisor));
  return {
    id,
    name: nameTag(volume.Tags) ?? id,
    path: pathOf(inv.region, id),
    powerState: instance ? powerStateOf(instance.State?.Name) : 'poweredOff',
    ...(instance
      ? guestOf(instance.Platform, instance.PlatformDetails, instance.Architecture)
      : { guestId: 'otherLinux64Guest', guestFullName: 'EBS volume' }),
    numCpu: 0,
    memoryMb: 0,
    storageBytes: disk.capacityBytes,
    provider: 'aws',
    instanceUuid: id,
    biosUuid: '',
    firmware: 'bios',
    hasSnapshots: false,
    datacenter: inv.region,
    disks: [disk],
    nics: [],
    cdroms: [],
  };
}

/** One snapshot as a source: read as it is (its disk carries snapshotId), off by nature. */
export function describeSnapshot(region: string, snapshot: Snapshot): VmDescription {
  const id = snapshot.SnapshotId ?? '';
  if (snapshot.State === 'error') {
    throw failure(
      ErrorType.InvalidInput,
      `AWS ${region}: snapshot ${id} is in state error${snapshot.StateMessage ? ` (${snapshot.StateMessage})` : ''}: it cannot be read`,
      true,
    );
  }
  const capacityBytes = (snapshot.VolumeSize ?? 0) * GiB;
  return {
    id,
    name: nameTag(snapshot.Tags) ?? id,
    path: pathOf(region, id),
    powerState: 'poweredOff',
    guestId: 'otherLinux64Guest',
    guestFullName: 'EBS snapshot',
    numCpu: 0,
    memoryMb: 0,
    storageBytes: capacityBytes,
    provider: 'aws',
    instanceUuid: id,
    biosUuid: '',
    firmware: 'bios',
    hasSnapshots: false,
    datacenter: region,
    disks: [
      {
        key: 0,
        label: id,
        capacityBytes,
        backingFile: id,
        // Snapshots live in the region, not in a zone.
        datastore: region,
        thin: true,
        ...diskSlot(0, 'nvme'),
        controllerType: 'nvme',
        backingType: 'ebs:snapshot',
        snapshotId: id,
      },
    ],
    nics: [],
    cdroms: [],
  };
}

/** Every live instance of the region as a summary line: three kinds of call whatever the count (instances, their types, their volumes). */
export async function listInstances(inv: Ec2Inventory): Promise<VmSummary[]> {
  const instances = await inv.allInstances();
  const volumeIds = instances.flatMap((i) =>
    orderedEbsDevices(i.BlockDeviceMappings ?? [], i.RootDeviceName).map((d) => d.volumeId),
  );
  const [types, volumes] = await Promise.all([
    inv.instanceTypes(instances.map((i) => i.InstanceType ?? '')),
    inv.volumes(volumeIds),
  ]);
  return instances.map((instance) => {
    const storageBytes = orderedEbsDevices(
      instance.BlockDeviceMappings ?? [],
      instance.RootDeviceName,
    ).reduce((sum, d) => sum + (volumes.get(d.volumeId)?.Size ?? 0) * GiB, 0);
    return instanceSummary(inv.region, instance, types.get(instance.InstanceType ?? ''), storageBytes);
  });
}
