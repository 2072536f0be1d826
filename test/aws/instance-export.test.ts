// An EC2 instance with two EBS volumes exported through the whole workflow, as
// hypervisord's workers run it: describe, snapshot the volumes (CreateSnapshots),
// read each snapshot's blocks, write raw, qcow2 or vhd with an OVF and a manifest,
// delete the snapshots. qemu-img judges every disk against the seeded volume.
import { DescribeSnapshotsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { fixedVhdFooterProblem, VHD_FOOTER_SIZE } from '../../src/core/vhd-footer.js';
import { CREATED_BY_TAG } from '../../src/providers/aws/snapshots.js';
import { ec2Client } from '../harness/aws-clients.js';
import { awsExportInput, awsWorkerConfig, pointAwsAt } from '../harness/aws-export-env.js';
import { spacedBlockIndexes } from '../harness/aws-seed.js';
import { seedInstance, writeExpectedImage, type SeededInstance } from '../harness/aws-instance.js';
import { useWorkerAndClient } from '../harness/export-env.js';

const aws = inject('aws');
const config = awsWorkerConfig(aws);
const root = config.output.allowedRoots[0]!;
// A worker in this process and a client, for the whole file (the AWS clients read the endpoint variables at the first export).
const exports = useWorkerAndClient(config);

let ec2: EC2Client;
let instance: SeededInstance;
let expected: string[];

beforeAll(async () => {
  pointAwsAt(aws.patched.endpoint, aws.patched.endpoint);
  ec2 = ec2Client(aws.patched);
  instance = await seedInstance(aws.patched, {
    name: `web-${Date.now()}`,
    volumes: [
      { sizeGiB: 1, blockIndexes: [0, 1, 2, ...spacedBlockIndexes(20, 97, 5), 2047] },
      { sizeGiB: 2, blockIndexes: spacedBlockIndexes(30, 131, 3) },
    ],
  });
  expected = await Promise.all(instance.volumes.map((v, i) => writeExpectedImage(v, join(root, `${instance.name}-volume-${i}.raw`))));
}, 120_000);

afterAll(() => {
  ec2?.destroy();
});

/** openssl's answer: an independent tool, and the fastest here over GiBs of holes (sha256sum is twice as slow). */
function sha256Of(path: string): string {
  return execFileSync('openssl', ['dgst', '-sha256', '-r', path], { encoding: 'utf8' }).split(' ')[0]!;
}

function run(input: ExportWorkflowInput): Promise<ExportResult> {
  return exports.client.workflow.execute(EXPORT_WORKFLOW_TYPE, { taskQueue: config.temporal.taskQueue, workflowId: input.jobId, args: [input] });
}

/** Snapshots this test's exports took and did not delete (tagged by the provider with the job). */
async function leftSnapshots(jobId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${CREATED_BY_TAG}`, Values: [`hypersdk-export-${jobId}`] }] }));
  return (out.Snapshots ?? []).map((s) => s.SnapshotId!);
}

// Format ovf is the instance described with qcow2 disks (the job layer sets diskImage).
describe.each([
  { format: 'qcow2', image: 'qcow2' },
  { format: 'raw', image: 'raw' },
  { format: 'vhd', image: 'vhd' },
  { format: 'ovf', image: 'qcow2' },
] as const)('an instance with two volumes, exported to $format', ({ format, image }) => {
  it('writes each volume as an image identical to it, with an OVF and a manifest, and deletes its snapshots', async () => {
    const dir = join(root, `instance-${format}`);
    mkdirSync(dir, { recursive: true });
    const jobId = `aws-instance-${format}-${Date.now()}`;
    const result = await run({ ...awsExportInput(jobId, instance.instanceId, dir, aws.patched.region, { format }), ...(format === 'ovf' ? { diskImage: image } : {}) });

    expect(result.vmName).toBe(instance.name);
    const disks = result.files.filter((f) => f.name.endsWith(`.${image}`));
    expect(disks).toHaveLength(2);
    // qemu calls a VHD's driver vpc.
    const driver = image === 'vhd' ? 'vpc' : image;
    for (const [i, disk] of disks.entries()) {
      const path = join(dir, disk.name);
      const size = instance.volumes[i]!.sizeGiB * 2 ** 30;
      const info = JSON.parse((await qemuImg('info', '--output=json', '-f', driver, path)).stdout) as { 'virtual-size': number };
      expect(info['virtual-size']).toBe(size);
      expect((await qemuImg('compare', '-f', driver, '-F', 'raw', path, expected[i]!)).stdout).toContain('Images are identical');
      // The manifest's hash is the whole file's: a VHD's footer included.
      expect(disk.sha256).toBe(sha256Of(path));
      if (image === 'vhd') {
        expect(statSync(path).size).toBe(size + VHD_FOOTER_SIZE);
        const footer = Buffer.alloc(VHD_FOOTER_SIZE);
        const fh = await open(path, 'r');
        await fh.read(footer, 0, VHD_FOOTER_SIZE, size);
        await fh.close();
        expect(fixedVhdFooterProblem(footer, size)).toBeUndefined();
      }
    }
    expect(result.diskMethods?.every((m) => m.method === 'datastore' && m.reason.includes('EBS direct reads'))).toBe(true);
    const ovf = await readFile(result.ovfPath, 'utf8');
    for (const disk of disks) expect(ovf).toContain(disk.name);
    if (image === 'vhd') expect(ovf.match(/ovf:format="[^"]*"/g)).toEqual(Array(2).fill('ovf:format="https://www.microsoft.com/en-us/download/details.aspx?id=23850"'));
    expect(result.keptSnapshot).toBeUndefined();
    expect(await leftSnapshots(jobId)).toEqual([]);
  }, 120_000);
});

it('keeps the snapshots it took when the job says keep_snapshots, and names them in the result', async () => {
  const dir = join(root, 'instance-kept');
  mkdirSync(dir, { recursive: true });
  const jobId = `aws-instance-kept-${Date.now()}`;
  const result = await run(awsExportInput(jobId, instance.instanceId, dir, aws.patched.region, { options: { keepSnapshots: true } }));
  const left = await leftSnapshots(jobId);
  expect(left).toHaveLength(2);
  // One pair per volume, in device order, naming the snapshots left.
  const pairs = (result.keptSnapshot ?? '').split(',').map((p) => p.split('='));
  expect(pairs.map(([volume]) => volume)).toEqual(instance.volumes.map((v) => v.volumeId));
  expect(pairs.map(([, snapshot]) => snapshot).sort()).toEqual([...left].sort());
}, 120_000);

it('writes format ova as one archive holding the OVF describing the instance, the manifest and qcow2 disks, and nothing beside it', async () => {
  const dir = join(root, 'instance-ova');
  mkdirSync(dir, { recursive: true });
  const jobId = `aws-instance-ova-${Date.now()}`;
  const result = await run({ ...awsExportInput(jobId, instance.instanceId, dir, aws.patched.region, { format: 'ova' }), diskImage: 'qcow2' });

  expect(result.ovaPath).toBeDefined();
  const ova = result.ovaPath!.replace(/^file:\/\//, '');
  // Only the archive is left in the output: its members were packed from staged copies.
  expect(readdirSync(dir)).toEqual([`${instance.name}.ova`]);
  expect(result.files).toEqual([{ name: `${instance.name}.ova`, sizeBytes: statSync(ova).size }]);
  // GNU tar, not our code, reads the archive back: descriptor first, then the manifest and the disks.
  const members = execFileSync('tar', ['-tf', ova], { encoding: 'utf8' }).trim().split('\n');
  expect(members).toEqual([`${instance.name}.ovf`, `${instance.name}.mf`, `${instance.name}-disk1.qcow2`, `${instance.name}-disk2.qcow2`]);
  const unpacked = join(dir, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xf', ova, '-C', unpacked]);

  for (const [i, name] of members.slice(2).entries()) {
    const path = join(unpacked, name);
    expect((await qemuImg('check', '-f', 'qcow2', path)).stdout).toContain('No errors were found');
    expect((await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', path, expected[i]!)).stdout).toContain('Images are identical');
  }
  const ovf = await readFile(join(unpacked, members[0]!), 'utf8');
  expect(ovf).toContain(`<Name>${instance.name}</Name>`);
  for (const name of members.slice(2)) expect(ovf).toContain(`ovf:href="${name}"`);
  expect(ovf.match(/ovf:format="[^"]*"/g)).toEqual(Array(2).fill('ovf:format="https://www.qemu.org/docs/master/interop/qcow2.html"'));
  // The manifest inside lists every other member with the SHA-256 sha256sum finds for it.
  const manifest = await readFile(join(unpacked, members[1]!), 'utf8');
  for (const name of [members[0]!, ...members.slice(2)]) {
    const sum = sha256Of(join(unpacked, name));
    expect(manifest).toContain(`SHA256(${name})= ${sum}`);
    expect(result.members?.find((m) => m.name === name)?.sha256).toBe(sum);
  }
  expect(existsSync(join(dir, `${instance.name}-disk1.qcow2`))).toBe(false);
  expect(await leftSnapshots(jobId)).toEqual([]);
}, 180_000);
