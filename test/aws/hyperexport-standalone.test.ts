// hyperexport -provider aws with no daemon: the process reads EC2 and EBS with
// its own credentials (here moto's, through the standard AWS variables), runs the
// export on an in-process worker (Temporal through TEMPORAL_ADDRESS), and writes
// what qemu-img finds identical to the volume. No daemon is started anywhere here.
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { freePort } from '../../src/devservices/ports.js';
import { CREATED_BY_TAG } from '../../src/providers/aws/snapshots.js';
import { ec2Client } from '../harness/aws-clients.js';
import { spacedBlockIndexes } from '../harness/aws-seed.js';
import { seedInstance, writeExpectedImage, type SeededInstance } from '../harness/aws-instance.js';
import { startBlockCounter } from '../harness/ebs-block-counter.js';
import { binPath, runBin } from '../harness/run-bin.js';
import { runHyperexport } from '../../src/cli/hyperexport.js';
import type { Choice, Prompts } from '../../src/cli/hyperexport/interactive.js';
import { pointAwsAt } from '../harness/aws-export-env.js';

const aws = inject('aws');
let instance: SeededInstance;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hx-aws-sa-'));
  instance = await seedInstance(aws.patched, { name: `hx-sa-${randomBytes(3).toString('hex')}`, volumes: [{ sizeGiB: 1, blockIndexes: [0, 7, 1000, 2047] }] });
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** What a user of the AWS CLI has in their shell, pointed at moto; nothing of this test run's own. */
function awsShell(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|GOVC_|TEMPORAL_|HYPERSDK_|HYPERVISOR)/.test(k)));
  return {
    ...inherited,
    NO_COLOR: '',
    AWS_ACCESS_KEY_ID: 'AKIATESTINGMOTOONLY00',
    AWS_SECRET_ACCESS_KEY: 'moto-accepts-any-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_EC2: aws.patched.endpoint,
    AWS_ENDPOINT_URL_EBS: aws.patched.endpoint,
    TEMPORAL_ADDRESS: aws.temporal.address,
    TEMPORAL_NAMESPACE: aws.temporal.namespace,
    HYPERSDK_DATA_DIR: join(work, 'state'),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

it('exports an instance named by its Name tag in this process: a qcow2 identical to its volume, and the manifest names it', async () => {
  const out = join(work, 'out');
  const run = await runBin(
    'hyperexport',
    ['-provider', 'aws', '-standalone', '-region', instance.region, '-vm', instance.name, '-format', 'qcow2', '-output', out, '-interval', '0.2'],
    awsShell(),
    110_000,
  );
  expect(run.code, run.stderr + run.stdout).toBe(0);
  const files = readdirSync(out).sort();
  const disk = files.find((f) => f.endsWith('.qcow2'));
  expect(files).toEqual([disk, `${instance.name}.mf`, `${instance.name}.ovf`].sort());
  const expected = await writeExpectedImage(instance.volumes[0]!, join(work, 'expected.raw'));
  expect((await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', join(out, disk!), expected)).stdout).toContain('Images are identical');
  expect(readFileSync(join(out, `${instance.name}.mf`), 'utf8')).toMatch(new RegExp(`^SHA256\\(${disk!.replace(/\./g, '\\.')}\\)= [0-9a-f]{64}$`, 'm'));
  // The secret never reaches what the user sees.
  expect(run.stdout + run.stderr).not.toContain('moto-accepts-any-secret');
}, 120_000);

it('exports here when no daemon answers, and says so: a dry run lists the volume without starting Temporal', async () => {
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const run = await runBin('hyperexport', ['-provider', 'aws', '-vm', instance.instanceId, '-output', join(work, 'dry'), '-dry-run'], awsShell({ HYPERVISOR_URL: nobody, AWS_REGION: instance.region, TEMPORAL_ADDRESS: '127.0.0.1:1' }));
  expect(run.code, run.stderr + run.stdout).toBe(0);
  expect(run.stderr).toContain(`no daemon at ${nobody}`);
  expect(run.stderr).toContain('exporting here (standalone)');
  expect(run.stdout).toContain(`standalone mode (AWS ${instance.region})`);
  expect(run.stdout).toContain(instance.volumes[0]!.volumeId);
  expect(readdirSync(work)).not.toContain('dry');
}, 60_000);

it('refuses, naming the flag to give, a run with no region: no -region, no AWS_REGION, no daemon', async () => {
  const nobody = `http://127.0.0.1:${await freePort()}`;
  for (const args of [['-vm', instance.instanceId], ['-standalone', '-vm', instance.name]]) {
    const run = await runBin('hyperexport', ['-provider', 'aws', ...args, '-output', join(work, 'never')], awsShell({ HYPERVISOR_URL: nobody }));
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("hyperexport: -region: is required for provider aws: give -region (e.g. us-east-1), or set aws.region (AWS_REGION) in this process's configuration");
    expect(readdirSync(work)).not.toContain('never');
  }
}, 60_000);

it('names a missing instance and exits 1, exporting nothing', async () => {
  const run = await runBin('hyperexport', ['-provider', 'aws', '-standalone', '-region', instance.region, '-vm', 'i-0123456789abcdef0', '-output', join(work, 'missing')], awsShell());
  expect(run.code, run.stderr).toBe(1);
  expect(run.stdout + run.stderr).toMatch(/i-0123456789abcdef0.*(not found|does not exist)/i);
  expect(readdirSync(work)).not.toContain('missing');
}, 60_000);

it('Ctrl-C cancels the export it runs: exit 130, its snapshot deleted by the in-process worker, only the files it created removed', async () => {
  const blocks = 300;
  const slow = await seedInstance(aws.patched, { name: `hx-sa-slow-${randomBytes(3).toString('hex')}`, volumes: [{ sizeGiB: 1, blockIndexes: spacedBlockIndexes(blocks, 6) }] });
  // Each block held 400 ms, 32 at a time: the transfer has seconds to go when Ctrl-C comes.
  const counter = await startBlockCounter(aws.patched.endpoint, { blockDelayMs: 400 });
  const ec2 = ec2Client(aws.patched);
  const dir = join(work, 'interrupted');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'notes.txt'), "not the export's");
  const child = spawn(process.execPath, [binPath('hyperexport'), '-provider', 'aws', '-standalone', '-region', slow.region, '-vm', slow.instanceId, '-output', dir, '-interval', '0.2'], {
    env: awsShell({ AWS_ENDPOINT_URL_EBS: counter.endpoint }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    let jobId: string | undefined;
    let taken: string | undefined;
    const ours = async () =>
      jobId ? ((await ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${CREATED_BY_TAG}`, Values: [`hypersdk-export-${jobId}`] }] }))).Snapshots ?? []) : [];
    while (!(taken && counter.reads(taken).length >= blocks / 8) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      jobId ??= /submitted as job (\S+)/.exec(output)?.[1];
      taken ??= (await ours())[0]?.SnapshotId;
    }
    expect(taken, output).toBeDefined();
    expect(counter.reads(taken!).length).toBeLessThan(blocks);
    child.kill('SIGINT');
    expect(await exited, output).toBe(130);
    expect(output).toContain('Interrupted: cancelling 1 export(s)');
    expect(await ours()).toEqual([]);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  } finally {
    child.kill('SIGKILL');
    ec2.destroy();
    await counter.close();
  }
}, 120_000);

it('in a terminal, lists the region\'s instances itself, and the one picked is planned (-dry-run) with its volume', async () => {
  // In this process: the AWS clients read moto's address from the environment.
  pointAwsAt(aws.patched.endpoint, aws.patched.endpoint);
  const listed: string[] = [];
  const prompts: Prompts = {
    checkbox: <T>(c: { choices: Choice<T>[] }) => {
      listed.push(...c.choices.map((x) => x.name));
      return Promise.resolve(c.choices.filter((x) => x.name.includes(instance.instanceId)).map((x) => x.value));
    },
    select: <T>(c: { message: string; choices: Choice<T>[] }) => Promise.resolve(c.choices[0]!.value),
    input: () => Promise.resolve(join(work, 'picked')),
    confirm: () => Promise.resolve(true),
  };
  let out = '';
  let err = '';
  const code = await runHyperexport(['-provider', 'aws', '-standalone', '-region', instance.region, '-dry-run'], {
    io: { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env: { HYPERSDK_DATA_DIR: join(work, 'state') } },
    interactive: true,
    prompts,
    onInterrupt: () => () => undefined,
    columns: 100,
  });
  expect(code, err).toBe(0);
  expect(listed.some((name) => name.includes(`/${instance.region}/${instance.instanceId}`))).toBe(true);
  expect(out).toContain(`Dry run through standalone mode (AWS ${instance.region})`);
  expect(out).toContain(instance.volumes[0]!.volumeId);
  expect(readdirSync(work)).not.toContain('picked');
}, 60_000);
