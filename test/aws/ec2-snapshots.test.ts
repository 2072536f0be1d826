// Patch ec2-snapshots: on AWS a snapshot that EC2 takes (CreateSnapshot of a volume,
// CreateSnapshots of an instance) is read through the EBS direct API like any other,
// and one of a volume made from snapshot A holds A's data. moto's EBS direct API knows
// only the snapshots StartSnapshot made.
import type { EBSClient } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  RunInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ebsClient, ec2Client, type MotoEndpoint } from '../harness/aws-clients.js';
import { seedSnapshot, type SeededSnapshot } from '../harness/aws-seed.js';
import { getBlock, listAllBlocks, listAllChangedBlocks } from '../harness/ebs-read.js';

const aws = inject('aws');
const SEEDED_INDEXES = [3, 900];

interface Clients {
  ebs: EBSClient;
  ec2: EC2Client;
}

function clients(moto: MotoEndpoint): Clients {
  return { ebs: ebsClient(moto), ec2: ec2Client(moto) };
}

/** EC2 CreateSnapshot of a new volume made from `sourceSnapshotId`. */
async function snapshotOfVolumeFrom(ec2: EC2Client, sourceSnapshotId: string): Promise<string> {
  const volume = await ec2.send(
    new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', SnapshotId: sourceSnapshotId }),
  );
  const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
  if (snapshot.SnapshotId === undefined) throw new Error('CreateSnapshot returned no SnapshotId');
  return snapshot.SnapshotId;
}

async function expectSeededData(ebs: EBSClient, snapshotId: string, seeded: SeededSnapshot): Promise<void> {
  const { blocks } = await listAllBlocks(ebs, snapshotId);
  expect(blocks.map((b) => b.BlockIndex)).toEqual(SEEDED_INDEXES);
  for (const { BlockIndex: index = -1, BlockToken: token = '' } of blocks) {
    const read = await getBlock(ebs, snapshotId, index, token);
    expect(read.data.equals(seeded.written.get(index) ?? Buffer.alloc(0)), `block ${index}`).toBe(true);
  }
}

let patched: Clients;
let unpatched: Clients;

beforeAll(() => {
  patched = clients(aws.patched);
  unpatched = clients(aws.unpatched);
});
afterAll(() => {
  for (const c of [patched, unpatched]) {
    c.ebs.destroy();
    c.ec2.destroy();
  }
});

describe('moto as released', () => {
  it('cannot list the blocks of a snapshot EC2 took', async () => {
    const seeded = await seedSnapshot(unpatched.ebs, { volumeSizeGiB: 1, blockIndexes: SEEDED_INDEXES });
    const snapshotId = await snapshotOfVolumeFrom(unpatched.ec2, seeded.snapshotId);
    await expect(listAllBlocks(unpatched.ebs, snapshotId)).rejects.toThrow();
  });
});

describe('patched', () => {
  it('CreateSnapshot of a volume made from a seeded snapshot is readable, with its data, and unchanged from it', async () => {
    const seeded = await seedSnapshot(patched.ebs, { volumeSizeGiB: 1, blockIndexes: SEEDED_INDEXES });
    const snapshotId = await snapshotOfVolumeFrom(patched.ec2, seeded.snapshotId);
    await expectSeededData(patched.ebs, snapshotId, seeded);
    const { changed } = await listAllChangedBlocks(patched.ebs, seeded.snapshotId, snapshotId);
    expect(changed).toEqual([]);
  });

  it("CreateSnapshots of an instance gives its data volume's snapshot the seeded data", async () => {
    const { ec2, ebs } = patched;
    const seeded = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: SEEDED_INDEXES });
    const imageId = (await ec2.send(new DescribeImagesCommand({}))).Images?.[0]?.ImageId;
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { SnapshotId: seeded.snapshotId } }],
      }),
    );
    const instanceId = run.Instances?.[0]?.InstanceId;
    const taken = await ec2.send(
      new CreateSnapshotsCommand({
        InstanceSpecification: { InstanceId: instanceId, ExcludeBootVolume: true },
      }),
    );
    expect(taken.Snapshots).toHaveLength(1);
    await expectSeededData(ebs, taken.Snapshots?.[0]?.SnapshotId ?? '', seeded);
  });
});
