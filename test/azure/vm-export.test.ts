// An Azure VM with an OS disk and a data disk exported through the whole workflow,
// as hypervisord's workers run it: describe through Resource Manager (the
// stand-in), snapshot each managed disk, GrantAccess, read only the allocated
// pages of each snapshot's page blob from Azurite, write qcow2, raw or vhd, revoke the
// access and delete the snapshots. qemu-img judges every disk against the seeded one;
// a relay in front of Azurite counts the bytes served.
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { connectAzure } from '../../src/providers/azure/index.js';
import { azureExportInput, seedVm, SUBSCRIPTION, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';

const azure = inject('azure');
const env = useAzureExports(azure);
const root = () => env.config.output.allowedRoots[0]!;
const MiB = 2 ** 20;

// The first pages, short runs with long gaps, a run longer than one 4 MiB read, the last pages.
const OS_DISK = 48 * MiB;
const OS_RANGES = [
  { offset: 0, length: 64 * 1024 },
  { offset: 1 * MiB + 512, length: 3 * 512 },
  { offset: 10 * MiB, length: 5 * MiB + 4096 },
  { offset: OS_DISK - 8192, length: 8192 },
];
const DATA_DISK = 32 * MiB;
const DATA_RANGES = [
  { offset: 2 * MiB, length: 1 * MiB },
  { offset: 20 * MiB - 4096, length: 4096 },
];
const allocated = (ranges: readonly { length: number }[]) => ranges.reduce((sum, r) => sum + r.length, 0);

let vm: SeededVm;

beforeAll(async () => {
  vm = await seedVm(azure, env.fake, {
    name: 'web1',
    resourceGroup: 'rg-apps',
    dir: join(root(), 'expected'),
    disks: [
      { sizeBytes: OS_DISK, ranges: OS_RANGES },
      { sizeBytes: DATA_DISK, ranges: DATA_RANGES },
    ],
    vm: { securityType: 'TrustedLaunch', nicMacs: ['00-0D-3A-5B-1C-2D'] },
  });
}, 60_000);

function run(input: ExportWorkflowInput): Promise<ExportResult> {
  return env.client.workflow.execute(EXPORT_WORKFLOW_TYPE, { taskQueue: env.config.temporal.taskQueue, workflowId: input.jobId, args: [input] });
}

/** Bytes of the disk (not its footer) served from the snapshot blob of `disk` (by its name in the blob path). */
function diskBytesServed(diskName: string, diskBytes: number): { bytes: number; outside: number } {
  const reads = env.relay.reads().filter((r) => r.path.includes(`-${diskName}.vhd`) && r.path.includes('/snapshots/') && r.start < diskBytes && (r.status === 206 || r.status === 200));
  return { bytes: reads.reduce((sum, r) => sum + r.bytes, 0), outside: reads.filter((r) => r.end >= diskBytes).length };
}

it('describes the VM through Resource Manager: size, firmware, disks in LUN order, NIC, power state', async () => {
  const provider = await connectAzure({ subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-apps', resourceManagerEndpoint: env.fake.endpoint, caFile: env.fake.caFile });
  const byName = await provider.describeVm('web1');
  const byId = await provider.describeVm(vm.vmId);
  expect(byId).toEqual(byName);
  expect(byName).toMatchObject({
    provider: 'azure',
    id: vm.vmId,
    path: vm.vmId,
    name: 'web1',
    powerState: 'poweredOn',
    numCpu: 2,
    memoryMb: 8192,
    firmware: 'efi',
    datacenter: 'westeurope',
    storageBytes: OS_DISK + DATA_DISK,
  });
  expect(byName.disks.map((d) => [d.backingFile, d.capacityBytes, d.controllerType])).toEqual([
    [vm.disks[0]!.id, OS_DISK, 'pvscsi'],
    [vm.disks[1]!.id, DATA_DISK, 'pvscsi'],
  ]);
  // The MAC from the NIC resource (Microsoft.Network), in the colon form the other providers use.
  expect(byName.nics.map((n) => [n.label, n.macAddress, n.network])).toEqual([['web1-nic', '00:0d:3a:5b:1c:2d', 'rg-apps-vnet/default']]);
  const listed = await provider.listVms();
  expect(listed.map((s) => [s.name, s.path, s.numCpu, s.memoryMb])).toEqual([['web1', vm.vmId, 2, 8192]]);
});

it('describes the VM without MAC addresses, and does not fail, when the identity may not read its NICs', async () => {
  env.fake.deniedActions.add('Microsoft.Network/networkInterfaces/read');
  try {
    const provider = await connectAzure({ subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-apps', resourceManagerEndpoint: env.fake.endpoint, caFile: env.fake.caFile });
    const d = await provider.describeVm('web1');
    expect(d.nics.map((n) => [n.label, n.macAddress, n.network])).toEqual([['web1-nic', '', 'web1-nic']]);
    expect(d.disks).toHaveLength(2);
    expect(env.fake.state.calls.filter((c) => c.path.endsWith('/networkInterfaces/web1-nic')).at(-1)?.status).toBe(403);
  } finally {
    env.fake.deniedActions.delete('Microsoft.Network/networkInterfaces/read');
  }
});

// vhd: a fixed VHD again (as Azure serves it), read by qemu-img as vpc.
describe.each([
  { format: 'qcow2', qemu: 'qcow2' },
  { format: 'raw', qemu: 'raw' },
  { format: 'vhd', qemu: 'vpc' },
] as const)('a VM with an OS and a data disk, exported to $format', ({ format, qemu }) => {
  it('writes each disk as an image identical to it, fetches only the allocated pages, and revokes and deletes its snapshots', async () => {
    const dir = join(root(), `vm-${format}`);
    mkdirSync(dir, { recursive: true });
    const jobId = `azure-vm-${format}-${Date.now()}`;
    env.relay.reset();
    const result = await run(azureExportInput(jobId, vm.vmId, dir, { format }));

    expect(result.vmName).toBe('web1');
    const disks = result.files.filter((f) => f.name.endsWith(`.${format}`));
    expect(disks).toHaveLength(2);
    for (const [i, disk] of disks.entries()) {
      const path = join(dir, disk.name);
      const info = JSON.parse((await qemuImg('info', '--output=json', '-f', qemu, path)).stdout) as { 'virtual-size': number };
      expect(info['virtual-size']).toBe(vm.disks[i]!.seeded.diskBytes);
      expect((await qemuImg('compare', '-f', qemu, '-F', 'raw', path, vm.disks[i]!.expected)).stdout).toContain('Images are identical');
    }
    // Only the allocated pages of each snapshot were read (and its footer, apart).
    const os = diskBytesServed('os', OS_DISK);
    const data = diskBytesServed('lun0', DATA_DISK);
    expect(os).toEqual({ bytes: allocated(OS_RANGES), outside: 0 });
    expect(data).toEqual({ bytes: allocated(DATA_RANGES), outside: 0 });
    // The seeded disks themselves were never read: only the job's snapshots.
    expect(env.relay.reads().filter((r) => r.path.includes('/disks/'))).toEqual([]);
    expect(result.diskMethods?.every((m) => m.reason.includes('page blob'))).toBe(true);

    const tag = `hypersdk-export-${jobId}`;
    expect(env.fake.snapshotsTagged(tag)).toEqual([]);
    const deleted = env.fake.deletedTagged(tag);
    expect(deleted.map((s) => s.sourceDiskId)).toEqual(expect.arrayContaining(vm.disks.map((d) => d.id)));
    expect(deleted).toHaveLength(2);
    for (const s of deleted) {
      expect(s.incremental).toBe(true);
      expect(s.grants).toBeGreaterThanOrEqual(1);
      expect(s.revokes).toBeGreaterThanOrEqual(1);
      expect(s.accessActive).toBe(false);
    }
    if (result.ovfPath) {
      const ovf = await readFile(result.ovfPath.replace(/^file:\/\//, ''), 'utf8');
      for (const disk of disks) expect(ovf).toContain(disk.name);
    }
  }, 120_000);
});

it('deallocates a running VM first when the job says power_off, and exports its disks', async () => {
  const seeded = await seedVm(azure, env.fake, {
    name: 'batch2',
    resourceGroup: 'rg-apps',
    dir: join(root(), 'expected-poweroff'),
    disks: [{ sizeBytes: 4 * MiB, ranges: [{ offset: 512 * 1024, length: 4096 }] }],
  });
  const dir = join(root(), 'poweroff');
  mkdirSync(dir, { recursive: true });
  const jobId = `azure-poweroff-${Date.now()}`;
  const result = await run(azureExportInput(jobId, seeded.vmId, dir, { format: 'raw', options: { powerOff: true } }));
  expect(env.fake.vms.get('rg-apps/batch2')?.powerState).toBe('deallocated');
  expect(env.fake.state.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/virtualMachines/batch2/deallocate'))).toHaveLength(1);
  const disk = result.files.find((f) => f.name.endsWith('.raw'))!;
  expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', join(dir, disk.name), seeded.disks[0]!.expected)).stdout).toContain('Images are identical');
}, 60_000);

it('keeps its snapshots when the job says keep_snapshots, with their read access revoked, and names them in the result', async () => {
  const seeded = await seedVm(azure, env.fake, {
    name: 'kept3',
    resourceGroup: 'rg-apps',
    dir: join(root(), 'expected-kept'),
    disks: [{ sizeBytes: 4 * MiB, ranges: [{ offset: 0, length: 8192 }, { offset: 3 * MiB, length: 4096 }] }],
  });
  const dir = join(root(), 'kept');
  mkdirSync(dir, { recursive: true });
  const jobId = `azure-kept-${Date.now()}`;
  const result = await run(azureExportInput(jobId, seeded.vmId, dir, { format: 'raw', options: { keepSnapshots: true } }));
  const disk = result.files.find((f) => f.name.endsWith('.raw'))!;
  expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', join(dir, disk.name), seeded.disks[0]!.expected)).stdout).toContain('Images are identical');

  const tag = `hypersdk-export-${jobId}`;
  const kept = env.fake.snapshotsTagged(tag);
  expect(kept.map((s) => s.sourceDiskId)).toEqual([seeded.disks[0]!.id]);
  expect(env.fake.deletedTagged(tag)).toEqual([]);
  expect(kept[0]!.grants).toBeGreaterThanOrEqual(1);
  expect(kept[0]!.revokes).toBeGreaterThanOrEqual(1);
  expect(kept[0]!.accessActive).toBe(false);
  expect(result.keptSnapshot).toContain(kept[0]!.name);

  // What the result names is what removes them later.
  const provider = await connectAzure({ subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-apps', resourceManagerEndpoint: env.fake.endpoint, caFile: env.fake.caFile });
  await provider.removeSnapshot(result.keptSnapshot!);
  expect(env.fake.snapshotsTagged(tag)).toEqual([]);
  expect(env.fake.deletedTagged(tag)).toHaveLength(1);
}, 60_000);
