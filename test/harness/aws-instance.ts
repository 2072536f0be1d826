// An EC2 instance whose EBS volumes hold known data, for tests that export one: each
// volume is made from an EBS snapshot seeded with random blocks (aws-seed.ts), the
// instance is launched with those snapshots as its block devices (the first one as the
// AMI's root device), and a test can write the image each volume should export to
// (writeExpectedImage) and compare an export with it (qemu-img compare).
//
// moto creates the volumes from the snapshots at launch; with the ec2-snapshots patch
// an EC2 snapshot of such a volume (CreateSnapshot(s)) reads, through the EBS direct
// API, the blocks seeded into the snapshot it was made from, as on AWS.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ebsClient, ec2Client, type MotoEndpoint } from './aws-clients.js';
import { EBS_BLOCK_SIZE, seedSnapshot, type SeededSnapshot } from './aws-seed.js';

const GiB = 2 ** 30;

export interface SeedVolume {
  sizeGiB: number;
  /** Blocks (512 KiB each) that get random data; every other block reads as zeros. */
  blockIndexes: readonly number[];
}

export interface SeedInstanceOptions {
  /** The instance's Name tag (default: a random "seeded-…" name). */
  name?: string;
  /** The instance's EBS volumes, in device order: the first is its root device. */
  volumes: readonly SeedVolume[];
  /** Default t3.micro (a Nitro type: its disks are NVMe). */
  instanceType?: string;
}

export interface SeededVolume {
  volumeId: string;
  /** Device name the instance sees it at, e.g. "/dev/xvda" (root), "/dev/sdf". */
  device: string;
  sizeGiB: number;
  /** The snapshot the volume was made from, with the blocks written to it. */
  seeded: SeededSnapshot;
}

export interface SeededInstance {
  instanceId: string;
  name: string;
  region: string;
  imageId: string;
  instanceType: string;
  /** In device order, as SeedInstanceOptions.volumes. */
  volumes: SeededVolume[];
}

/** The AMI the instances run: an Amazon Linux HVM image with an EBS root at /dev/xvda (moto ships it). */
const IMAGE_NAME = 'amzn-ami-hvm-*';
/** Device names of the data volumes, after the root device. */
const DATA_DEVICES = 'fghijklmnop'.split('').map((c) => `/dev/sd${c}`);

export async function seedInstance(
  moto: MotoEndpoint,
  options: SeedInstanceOptions,
): Promise<SeededInstance> {
  if (options.volumes.length === 0)
    throw new Error('seedInstance: an instance needs at least its root volume');
  if (options.volumes.length > DATA_DEVICES.length + 1)
    throw new Error(`seedInstance: at most ${DATA_DEVICES.length + 1} volumes`);
  const ec2 = ec2Client(moto);
  const ebs = ebsClient(moto);
  try {
    const seeded = await Promise.all(
      options.volumes.map((v) =>
        seedSnapshot(ebs, { volumeSizeGiB: v.sizeGiB, blockIndexes: v.blockIndexes }),
      ),
    );
    const images = await ec2.send(
      new DescribeImagesCommand({
        Filters: [
          { Name: 'name', Values: [IMAGE_NAME] },
          { Name: 'root-device-type', Values: ['ebs'] },
        ],
      }),
    );
    const image = images.Images?.find((i) => i.ImageId && i.RootDeviceName);
    if (!image?.ImageId || !image.RootDeviceName)
      throw new Error(`moto offers no AMI named ${IMAGE_NAME} with an EBS root`);
    const devices = [image.RootDeviceName, ...DATA_DEVICES.slice(0, options.volumes.length - 1)];

    const name = options.name ?? `seeded-${randomBytes(4).toString('hex')}`;
    const instanceType = options.instanceType ?? 't3.micro';
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: image.ImageId,
        InstanceType: instanceType as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        BlockDeviceMappings: options.volumes.map((v, i) => ({
          DeviceName: devices[i],
          Ebs: {
            SnapshotId: seeded[i]!.snapshotId,
            VolumeSize: v.sizeGiB,
            VolumeType: 'gp3',
            DeleteOnTermination: true,
          },
        })),
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: name }] }],
      }),
    );
    const instanceId = run.Instances?.[0]?.InstanceId;
    if (!instanceId) throw new Error('RunInstances returned no instance');

    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const mappings = described.Reservations?.[0]?.Instances?.[0]?.BlockDeviceMappings ?? [];
    const volumes = options.volumes.map((v, i): SeededVolume => {
      const device = devices[i]!;
      const volumeId = mappings.find((m) => m.DeviceName === device)?.Ebs?.VolumeId;
      if (!volumeId) throw new Error(`instance ${instanceId} has no volume at ${device}`);
      return { volumeId, device, sizeGiB: v.sizeGiB, seeded: seeded[i]! };
    });
    if (mappings.length !== volumes.length || mappings.some((m, i) => m.DeviceName !== devices[i]))
      throw new Error(
        `instance ${instanceId} lists devices ${mappings.map((m) => m.DeviceName).join(', ')}, expected ${devices.join(', ')}`,
      );
    return { instanceId, name, region: moto.region, imageId: image.ImageId, instanceType, volumes };
  } finally {
    ec2.destroy();
    ebs.destroy();
  }
}

/**
 * Writes the image a volume exports to: a sparse raw file of its size holding the seeded
 * blocks at index × 512 KiB, zeros elsewhere (as AWS restores a volume from its snapshot).
 */
export async function writeExpectedImage(
  volume: { sizeGiB: number; seeded: SeededSnapshot },
  path: string,
): Promise<string> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(volume.sizeGiB * GiB);
    for (const [index, data] of volume.seeded.written)
      await fh.write(data, 0, data.length, index * EBS_BLOCK_SIZE);
  } finally {
    await fh.close();
  }
  return path;
}
