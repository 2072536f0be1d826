// The AWS provider against moto: the provider is given only a region (its endpoints
// come from AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_EBS, as on a worker), describes
// seeded instances, volumes and snapshots, takes a snapshot set, reads each disk's
// blocks back byte for byte through EBS direct, deletes the set, stops an instance.
import {
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  TerminateInstancesCommand,
  type DescribeSnapshotsCommandOutput,
  type EC2Client,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import type { ApplicationFailure } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorType } from '../../src/core/errors.js';
import type { ExtentSource } from '../../src/core/extent-source.js';
import type { VmDescription } from '../../src/core/vm-description.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { openImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import { transferExtents } from '../../src/transfer/extent-transfer.js';
import { connectAws, CREATED_BY_TAG, type AwsProvider } from '../../src/providers/aws/index.js';
import { ebsClient, ec2Client } from '../harness/aws-clients.js';
import { seedInstance, writeExpectedImage, type SeededInstance } from '../harness/aws-instance.js';
import { EBS_BLOCK_SIZE, seedSnapshot, type SeededSnapshot } from '../harness/aws-seed.js';

const aws = inject('aws');
const GiB = 2 ** 30;
const ENDPOINT_VARS = ['AWS_ENDPOINT_URL_EC2', 'AWS_ENDPOINT_URL_EBS'] as const;

let provider: AwsProvider;
let ec2: EC2Client;
/** Two volumes: the root (1 GiB, its first and last blocks among others), a 2 GiB data volume. */
let web: SeededInstance;
const savedEnv = new Map<string, string | undefined>();

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  return promise.then(
    () => expect.fail('expected a failure'),
    (err: unknown) => err as ApplicationFailure,
  );
}

async function instanceState(instanceId: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

async function snapshotsById(ids: string[]): Promise<Snapshot[]> {
  const out: DescribeSnapshotsCommandOutput = await ec2.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: ids }] }),
  );
  return out.Snapshots ?? [];
}

/** Every block the source lists, read: block index → bytes. */
async function readAll(source: ExtentSource): Promise<Map<number, Buffer>> {
  const signal = new AbortController().signal;
  const blocks = new Map<number, Buffer>();
  for await (const extent of source.allocated(0, signal)) {
    blocks.set(extent.offset / EBS_BLOCK_SIZE, await source.read(extent, signal));
  }
  return blocks;
}

function expectSameBlocks(read: Map<number, Buffer>, seeded: SeededSnapshot): void {
  expect([...read.keys()]).toEqual([...seeded.written.keys()].sort((a, b) => a - b));
  for (const [index, data] of seeded.written)
    expect(read.get(index)?.equals(data), `block ${index}`).toBe(true);
}

beforeAll(async () => {
  // The provider gets no endpoint: the SDK reads these, as it does on a worker.
  for (const name of ENDPOINT_VARS) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = aws.patched.endpoint;
  }
  provider = await connectAws({ region: aws.patched.region, pollIntervalMs: 20 });
  ec2 = ec2Client(aws.patched);
  web = await seedInstance(aws.patched, {
    name: unique('web'),
    volumes: [
      { sizeGiB: 1, blockIndexes: [0, 1, 700, 2047] },
      { sizeGiB: 2, blockIndexes: [3, 2048, 4095] },
    ],
  });
});

afterAll(async () => {
  await provider?.logout();
  ec2?.destroy();
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('describeVm', () => {
  it('an instance by id: its EBS volumes in device order, its hardware, its NIC', async () => {
    const vm = await provider.describeVm(web.instanceId);
    const raw = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [web.instanceId] })))
      .Reservations?.[0]?.Instances?.[0];
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [web.imageId] }))).Images?.[0];
    expect(vm).toMatchObject({
      provider: 'aws',
      id: web.instanceId,
      name: web.name,
      path: `/${aws.patched.region}/${web.instanceId}`,
      powerState: 'poweredOn',
      datacenter: aws.patched.region,
      instanceUuid: web.instanceId,
      biosUuid: '',
      guestId: 'otherLinux64Guest',
      // t3.micro: 2 vCPUs, 1 GiB (DescribeInstanceTypes).
      numCpu: 2,
      memoryMb: 1024,
      storageBytes: 3 * GiB,
      hasSnapshots: false,
      cdroms: [],
    });
    // moto reports no boot mode on instances; the AMI's (moto gives every AMI "uefi") decides.
    expect(raw?.BootMode).toBeUndefined();
    expect(image?.BootMode).toBe('uefi');
    expect(vm.firmware).toBe('efi');
    expect(vm.disks).toEqual(
      web.volumes.map((v, i) => ({
        key: i,
        label: v.device,
        capacityBytes: v.sizeGiB * GiB,
        backingFile: v.volumeId,
        datastore: raw?.Placement?.AvailabilityZone,
        thin: true,
        controllerKey: 1000,
        // t3 is a Nitro type: its EBS volumes are NVMe namespaces.
        controllerType: 'nvme',
        unitNumber: i,
        backingType: 'ebs:gp3',
      })),
    );
    expect(vm.disks[0]?.label).toBe(raw?.RootDeviceName);
    const eni = raw?.NetworkInterfaces?.[0];
    expect(vm.nics).toEqual([
      { key: 0, label: 'eth0', macAddress: eni?.MacAddress, network: eni?.SubnetId, adapterType: 'virtio' },
    ]);
    expect(vm.nics[0]?.macAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(provider.requiresSnapshot(vm)).toBe(true);
  });

  it('by Name tag and by the path a description gives: the same instance', async () => {
    expect((await provider.describeVm(web.name)).id).toBe(web.instanceId);
    expect((await provider.describeVm(`/${aws.patched.region}/${web.instanceId}`)).id).toBe(web.instanceId);
  });

  it('a Xen instance type: its disks on a paravirtual controller', async () => {
    const xen = await seedInstance(aws.patched, {
      volumes: [{ sizeGiB: 1, blockIndexes: [5] }],
      instanceType: 't2.micro',
    });
    const vm = await provider.describeVm(xen.instanceId);
    expect(vm).toMatchObject({ numCpu: 1, memoryMb: 1024 });
    expect(vm.disks.map((d) => d.controllerType)).toEqual(['pvscsi']);
  });

  it('a Name two instances carry is refused, naming both', async () => {
    const name = unique('twin');
    const [a, b] = await Promise.all([
      seedInstance(aws.patched, { name, volumes: [{ sizeGiB: 1, blockIndexes: [1] }] }),
      seedInstance(aws.patched, { name, volumes: [{ sizeGiB: 1, blockIndexes: [1] }] }),
    ]);
    const err = await failureOf(provider.describeVm(name));
    expect(err.type).toBe(ErrorType.InvalidInput);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(a.instanceId);
    expect(err.message).toContain(b.instanceId);
  });

  it('a volume: one disk, on while its instance runs; a detached one is off', async () => {
    const root = web.volumes[0]!;
    const vm = await provider.describeVm(root.volumeId);
    expect(vm).toMatchObject({
      id: root.volumeId,
      path: `/${aws.patched.region}/${root.volumeId}`,
      powerState: 'poweredOn',
      numCpu: 0,
      memoryMb: 0,
      storageBytes: GiB,
      nics: [],
    });
    expect(vm.disks).toHaveLength(1);
    expect(vm.disks[0]).toMatchObject({
      key: 0,
      label: root.device,
      backingFile: root.volumeId,
      capacityBytes: GiB,
    });
    expect(vm.disks[0]?.snapshotId).toBeUndefined();
    expect(provider.requiresSnapshot(vm)).toBe(true);

    const loose = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: `${aws.patched.region}a`, Size: 3 }),
    );
    const detached = await provider.describeVm(loose.VolumeId!);
    expect(detached.powerState).toBe('poweredOff');
    expect(detached.disks[0]).toMatchObject({ capacityBytes: 3 * GiB, datastore: `${aws.patched.region}a` });
  });

  it('a snapshot: read as it is (no snapshot to take), its blocks those seeded', async () => {
    const seeded = await seedSnapshot(ebsClient(aws.patched), { volumeSizeGiB: 1, blockIndexes: [2, 1500] });
    const vm = await provider.describeVm(seeded.snapshotId);
    expect(vm).toMatchObject({ id: seeded.snapshotId, powerState: 'poweredOff', storageBytes: GiB });
    expect(vm.disks).toEqual([
      expect.objectContaining({
        key: 0,
        capacityBytes: GiB,
        backingFile: seeded.snapshotId,
        snapshotId: seeded.snapshotId,
      }),
    ]);
    expect(provider.requiresSnapshot(vm)).toBe(false);
    const source = await provider.openExtentSource(vm, 0, { kind: 'vm', vmId: vm.id });
    expect(source.sizeBytes).toBe(GiB);
    expectSameBlocks(await readAll(source), seeded);
  });

  it('an unknown id or name is VmNotFound, naming it and the region', async () => {
    for (const ref of [
      'i-0123456789abcdef0',
      'vol-0123456789abcdef0',
      'snap-0123456789abcdef0',
      unique('nobody'),
    ]) {
      const err = await failureOf(provider.describeVm(ref));
      expect(err.type, ref).toBe(ErrorType.VmNotFound);
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain(ref);
      expect(err.message).toContain(aws.patched.region);
    }
    const elsewhere = await failureOf(provider.describeVm(`/eu-west-3/${web.instanceId}`));
    expect(elsewhere.type).toBe(ErrorType.VmNotFound);
    expect(elsewhere.message).toContain('eu-west-3');
  });
});

describe('listVms', () => {
  it('every live instance of the region, terminated ones left out', async () => {
    const gone = await seedInstance(aws.patched, { volumes: [{ sizeGiB: 1, blockIndexes: [1] }] });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone.instanceId] }));
    const vms = await provider.listVms();
    expect(vms.find((v) => v.id === web.instanceId)).toEqual({
      id: web.instanceId,
      name: web.name,
      path: `/${aws.patched.region}/${web.instanceId}`,
      powerState: 'poweredOn',
      guestId: 'otherLinux64Guest',
      guestFullName: 'Linux/UNIX',
      numCpu: 2,
      memoryMb: 1024,
      storageBytes: 3 * GiB,
    });
    expect(vms.map((v) => v.id)).not.toContain(gone.instanceId);
  });
});

describe('snapshot sets', () => {
  let vm: VmDescription;
  let setId: string;

  beforeAll(async () => {
    vm = await provider.describeVm(web.instanceId);
  });

  it('createSnapshot of a two-volume instance: one completed, tagged snapshot per volume, in device order', async () => {
    const name = `hypersdk-export-${unique('job')}`;
    setId = await provider.createSnapshot(web.instanceId, name, 'provider test');
    const pairs = setId.split(',').map((p) => p.split('='));
    expect(pairs.map(([volumeId]) => volumeId)).toEqual(web.volumes.map((v) => v.volumeId));
    const snapshots = await snapshotsById(pairs.map(([, snapshotId]) => snapshotId!));
    expect(snapshots).toHaveLength(2);
    for (const s of snapshots) {
      expect(s.State).toBe('completed');
      expect(s.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'Name', Value: name },
          { Key: CREATED_BY_TAG, Value: name },
        ]),
      );
    }

    // A retry of the same prepare (same name) reuses the set instead of taking a second one.
    expect(await provider.createSnapshot(web.instanceId, name, 'provider test')).toBe(setId);
    const tagged = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${CREATED_BY_TAG}`, Values: [name] }] }),
    );
    expect(tagged.Snapshots?.map((s) => s.SnapshotId).sort()).toEqual(pairs.map(([, s]) => s).sort());
  });

  it('each disk of the set reads exactly the blocks seeded into its volume', async () => {
    const target = { kind: 'snapshot', snapshotId: setId } as const;
    const plans = await provider.planDiskReads(vm);
    expect(plans.map((p) => [p.diskKey, p.via])).toEqual([
      [0, 'file'],
      [1, 'file'],
    ]);
    for (const [i, volume] of web.volumes.entries()) {
      const source = await provider.openExtentSource(vm, i, target);
      expect(source.sizeBytes).toBe(volume.sizeGiB * GiB);
      expectSameBlocks(await readAll(source), volume.seeded);
    }
    // A disk the set has no snapshot of, and a live disk read without one, are refused as input.
    const other = `${vm.disks[0]!.backingFile}=snap-0123456789abcdef0`;
    const missing = await failureOf(
      provider.openExtentSource(vm, 1, { kind: 'snapshot', snapshotId: other }),
    );
    expect(missing.type).toBe(ErrorType.InvalidInput);
    expect(missing.message).toContain(web.volumes[1]!.device);
    const live = await failureOf(provider.openExtentSource(vm, 0, { kind: 'vm', vmId: vm.id }));
    expect(live.type).toBe(ErrorType.InvalidInput);
  });

  it('a disk of the set through the extent engine is the image writeExpectedImage writes (qemu-img compare)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hyper-awsprov-'));
    const sink = new LocalSink(dir);
    try {
      const volume = web.volumes[1]!;
      const source = await provider.openExtentSource(vm, 1, { kind: 'snapshot', snapshotId: setId });
      const writer = await openImageDiskWriter(sink, {
        name: 'disk-1.raw',
        format: 'raw',
        virtualSize: source.sizeBytes,
        source: 'raw',
        stage: false,
      });
      const result = await transferExtents({
        source,
        writer,
        signal: new AbortController().signal,
        onCheckpoint: () => undefined,
      });
      expect(result.bytesReceived).toBe(volume.seeded.written.size * EBS_BLOCK_SIZE);
      const expected = await writeExpectedImage(volume, join(dir, 'expected.raw'));
      const compared = await qemuImg('compare', '-f', 'raw', '-F', 'raw', join(dir, 'disk-1.raw'), expected);
      expect(compared.stdout).toContain('Images are identical');
    } finally {
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removeSnapshot deletes the set; removing it again is fine; a snapshot hypersdk did not take is kept', async () => {
    const ids = setId.split(',').map((p) => p.split('=')[1]!);
    await provider.removeSnapshot(setId);
    expect(await snapshotsById(ids)).toEqual([]);
    await provider.removeSnapshot(setId);

    const foreign = web.volumes[0]!.seeded.snapshotId;
    const refused = await failureOf(provider.removeSnapshot(`${web.volumes[0]!.volumeId}=${foreign}`));
    expect(refused.type).toBe(ErrorType.InvalidInput);
    expect(refused.message).toContain(foreign);
    expect(await snapshotsById([foreign])).toHaveLength(1);
  });

  it.each([
    ['never completes (the wait times out)', 'pending', ErrorType.Timeout],
    ['fails (a snapshot in state error)', 'error', ErrorType.TransferFailed],
  ] as const)('a set that %s is deleted before the failure is thrown', async (_, state, type) => {
    const broken = await connectAws({
      region: aws.patched.region,
      pollIntervalMs: 20,
      snapshotTimeoutMs: 200,
    });
    // moto completes snapshots at once: this client sees them in `state` instead.
    broken.clients.ec2.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const out = result.output as { Snapshots?: Snapshot[] };
        for (const s of out.Snapshots ?? [])
          Object.assign(s, { State: state, StateMessage: 'simulated by the test' });
        return result;
      },
      { step: 'initialize', name: 'snapshotState' },
    );
    try {
      const name = `hypersdk-export-${unique('broken')}`;
      const err = await failureOf(broken.createSnapshot(web.instanceId, name));
      expect(err.type).toBe(type);
      if (state === 'error') expect(err.message).toContain('simulated by the test');
      const left = await ec2.send(
        new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${CREATED_BY_TAG}`, Values: [name] }] }),
      );
      expect(left.Snapshots).toEqual([]);
    } finally {
      await broken.logout();
    }
  });

  it('a volume source is snapshotted alone', async () => {
    const data = web.volumes[1]!;
    const volumeVm = await provider.describeVm(data.volumeId);
    const set = await provider.createSnapshot(data.volumeId, `hypersdk-export-${unique('vol')}`);
    expect(set).toMatch(new RegExp(`^${data.volumeId}=snap-[0-9a-f]+$`));
    expectSameBlocks(
      await readAll(await provider.openExtentSource(volumeVm, 0, { kind: 'snapshot', snapshotId: set })),
      data.seeded,
    );
    await provider.removeSnapshot(set);
  });
});

describe('powerOff', () => {
  it('stops a running instance; a stopped one is left alone', async () => {
    const db = await seedInstance(aws.patched, { volumes: [{ sizeGiB: 1, blockIndexes: [1] }] });
    expect(await instanceState(db.instanceId)).toBe('running');
    await provider.powerOff(db.instanceId, { graceful: true, timeoutMs: 5_000 });
    expect(await instanceState(db.instanceId)).toBe('stopped');
    expect((await provider.describeVm(db.instanceId)).powerState).toBe('poweredOff');
    await provider.powerOff(db.instanceId, { graceful: false, timeoutMs: 1_000 });
    expect(await instanceState(db.instanceId)).toBe('stopped');
  });
});

describe('what AWS does not have', () => {
  it('no export session and no HTTP disk reader: NotSupported, final', async () => {
    const vm = await provider.describeVm(web.instanceId);
    const session = await failureOf(provider.openExportSession({ kind: 'vm', vmId: vm.id }));
    expect(session.type).toBe(ErrorType.NotSupported);
    expect(session.nonRetryable).toBe(true);
    expect(session.message).toContain('EBS snapshots');
    expect((await failureOf(provider.openDiskReader(vm, 0, { kind: 'file' }))).type).toBe(
      ErrorType.NotSupported,
    );
    expect(await provider.sessionState('none')).toBe('done');
    await provider.releaseSession('none', { completed: true });
  });
});
