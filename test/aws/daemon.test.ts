// The AWS path end to end as an operator runs it: a real hypervisord (gateway and
// worker in a child process, configured by YAML and the standard AWS variables)
// and hyperctl subprocesses, against moto. Lists the region's instances, exports
// one by its Name tag, and refuses a format AWS disks cannot have, naming it.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { hyperctl, startDaemon, type Daemon } from '../e2e/daemon.js';
import { seedInstance, writeExpectedImage, type SeededInstance } from '../harness/aws-instance.js';

const aws = inject('aws');
let daemon: Daemon;
let instance: SeededInstance;

beforeAll(async () => {
  instance = await seedInstance(aws.patched, { name: `daemon-${randomBytes(3).toString('hex')}`, volumes: [{ sizeGiB: 1, blockIndexes: [0, 5, 9, 1500, 2047] }] });
  daemon = await startDaemon({ workDir: aws.workDir, temporal: aws.temporal }, `aws:\n  region: ${aws.patched.region}`, {
    AWS_ENDPOINT_URL_EC2: aws.patched.endpoint,
    AWS_ENDPOINT_URL_EBS: aws.patched.endpoint,
  });
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
});

it('hyperctl vms list -provider aws lists the region\'s instances through hypervisord', async () => {
  const listed = await hyperctl(daemon, ['vms', 'list', '-provider', 'aws']);
  expect(listed.code, listed.stderr).toBe(0);
  // The id as the path, the Name tag last (what -vm also takes).
  expect(listed.stdout).toMatch(new RegExp(`^/${aws.patched.region}/${instance.instanceId}\\tpoweredOn\\t.*\\t${instance.name}$`, 'm'));
}, 60_000);

it('hyperctl submit -provider aws exports an instance named by its Name tag into a qcow2 identical to its volume', async () => {
  const output = join(daemon.exportRoot, instance.name);
  const submit = await hyperctl(daemon, ['submit', '-provider', 'aws', '-vm', instance.name, '-format', 'qcow2', '-output', output]);
  expect(submit.code, submit.stderr).toBe(0);
  const id = /^ {2}- Job ID: (\S+)$/m.exec(submit.stdout)?.[1];
  expect(id, submit.stdout).toBeDefined();
  let final = '';
  for (let i = 0; i < 240 && !/\b(completed|failed|cancelled)\b/.test(final); i++) {
    if (i) await new Promise((r) => setTimeout(r, 500));
    final = (await hyperctl(daemon, ['query', '-id', id!])).stdout;
  }
  expect(final, daemon.log()).toContain('completed');
  const files = readdirSync(output).sort();
  const disk = files.find((f) => f.endsWith('.qcow2'));
  expect(files).toEqual([disk, `${instance.name}.mf`, `${instance.name}.ovf`].sort());
  const expected = await writeExpectedImage(instance.volumes[0]!, join(daemon.exportRoot, `${instance.name}-volume.raw`));
  expect((await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', join(output, disk!), expected)).stdout).toContain('Images are identical');
}, 120_000);

it('refuses an AWS job for VMDK files (EBS has none), naming the format and what to use instead', async () => {
  const refused = await hyperctl(daemon, ['submit', '-provider', 'aws', '-vm', instance.instanceId, '-format', 'vmdk', '-output', join(daemon.exportRoot, 'never')]);
  expect(refused.code).not.toBe(0);
  expect(refused.stdout + refused.stderr).toMatch(/format: vmdk .*EBS volumes have none: give qcow2, raw or vhd/);
  expect(readdirSync(daemon.exportRoot)).not.toContain('never');
}, 60_000);
