// hyperctl with -provider aws, run in-process against the real gateway app served
// on loopback (its Temporal client records the workflows started): what the flags
// become in the export workflow's input, and the usage errors, with their exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsInstance, exportResultOf, fakeAwsProvider, unitGateway, type UnitGateway } from '../api/test-support.js';
import type { AwsTarget } from '../api/deps.js';
import type { ExportWorkflowInput } from '../core/export-contract.js';
import { runHyperctl } from './hyperctl.js';
import type { CliIo } from './io.js';

let gw: UnitGateway;
let daemon: string;
const opened: AwsTarget[] = [];

beforeAll(async () => {
  gw = await unitGateway({
    env: { AWS_REGION: 'us-east-2', HYPERSDK_S3_ALLOWED_BUCKETS: 'exports' },
    awsProviderFactory: (target) => {
      opened.push(target);
      return Promise.resolve(fakeAwsProvider([awsInstance('i-0aaa1111', 'web-1', target.region), awsInstance('i-0bbb2222', 'db-1', target.region)]));
    },
  });
  daemon = await gw.listen();
});
afterAll(async () => gw?.close());

async function hyperctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env };
  const code = await runHyperctl(args, io);
  return { code, out, err };
}

/** The input of the export workflow the job id names. */
function inputOf(out: string): ExportWorkflowInput {
  const id = /Job ID: (\S+)/.exec(out)?.[1];
  const started = gw.started.find((s) => s.options.workflowId === id);
  expect(started, out).toBeDefined();
  return (started!.options.args as ExportWorkflowInput[])[0]!;
}

describe('hyperctl submit -provider aws', () => {
  it('sends -vm, -region, -aws-profile and -keep-snapshots as an AWS job (Go-style flags), and prints the Job ID line', async () => {
    const r = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'i-0123456789abcdef0', '-region=eu-west-3', '-aws-profile', 'migration', '-keep-snapshots', '-power-off', '-format', 'raw']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^Submitted 1 job\(s\)\n {2}- Job ID: [^:\s]+\n$/);
    expect(inputOf(r.out)).toMatchObject({
      vmPath: 'i-0123456789abcdef0',
      format: 'raw',
      method: 'auto',
      source: { provider: 'aws', region: 'eu-west-3', profile: 'migration' },
      options: { keepSnapshots: true, powerOff: true },
    });
  });

  it('sends -since-snapshot as options.since_snapshot (an incremental export), one id or the kept vol=snap pairs, Go-style', async () => {
    const pairs = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'i-0123456789abcdef0', '-output', 'web01', '-format', 'raw', '-since-snapshot=vol-0aaa1111=snap-0bbb2222,vol-0ccc3333=snap-0ddd4444', '-keep-snapshots']);
    expect(pairs.code, pairs.err).toBe(0);
    expect(inputOf(pairs.out)).toMatchObject({
      vmPath: 'i-0123456789abcdef0',
      format: 'raw',
      options: { sinceSnapshot: 'vol-0aaa1111=snap-0bbb2222,vol-0ccc3333=snap-0ddd4444', keepSnapshots: true },
    });
    const one = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'vol-0aaa1111', '-output', 'vol', '--since-snapshot', 'snap-0bbb2222']);
    expect(one.code, one.err).toBe(0);
    expect(inputOf(one.out).options.sinceSnapshot).toBe('snap-0bbb2222');
    // An export to S3 is updated in its bucket the same way.
    const s3 = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'vol-0aaa1111', '-output', 's3://exports/vol', '-since-snapshot', 'snap-0bbb2222']);
    expect(s3.code, s3.err).toBe(0);
    expect(inputOf(s3.out)).toMatchObject({ sink: { kind: 's3', bucket: 'exports', prefix: 'vol/' }, options: { sinceSnapshot: 'snap-0bbb2222' } });
    const full = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'vol-0aaa1111', '-output', 'vol']);
    expect(inputOf(full.out).options).not.toHaveProperty('sinceSnapshot');
  });

  it("takes the region from this process's AWS_REGION, else AWS_DEFAULT_REGION, else leaves it to the daemon", async () => {
    const fromEnv = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'web-1'], { AWS_REGION: 'ap-southeast-1', AWS_DEFAULT_REGION: 'us-west-1' });
    expect(fromEnv.code, fromEnv.err).toBe(0);
    expect(inputOf(fromEnv.out).source).toEqual({ provider: 'aws', region: 'ap-southeast-1' });
    const fromDefault = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'web-1'], { AWS_DEFAULT_REGION: 'us-west-1' });
    expect(inputOf(fromDefault.out).source).toEqual({ provider: 'aws', region: 'us-west-1' });
    const fromDaemon = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'web-1', '-keep-snapshots=false']);
    expect(inputOf(fromDaemon.out)).toMatchObject({ source: { provider: 'aws', region: 'us-east-2' }, options: { keepSnapshots: false } });
  });

  it('prints what the daemon refused, naming the field (exit 1)', async () => {
    const r = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'i-0abc1234', '-region', 'eu-west-1', '-format', 'vmdk']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Submit rejected:\n {2}- format: vmdk is the source's own VMDK disk files, and EBS volumes have none/);
    expect(r.out).toBe('');
  });

  it.each([
    [['-provider', 'gcp', '-vm', 'x'], {}, /option '--provider <name>' argument 'gcp' is invalid\. Allowed choices are vsphere, aws, azure\./],
    [['-vm', '/DC0/vm/a', '-region', 'eu-west-1'], {}, /hyperctl: -region is for -provider aws: add -provider aws/],
    [['-vm', '/DC0/vm/a', '-aws-profile', 'p', '-keep-snapshots'], {}, /hyperctl: -aws-profile is for -provider aws/],
    [['-vm', '/DC0/vm/a', '-keep-snapshots'], {}, /hyperctl: -keep-snapshots is for -provider aws or azure \(a vSphere export always removes the snapshot it took\)/],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-profile', 'default'], {}, /hyperctl: -profile names a vCenter profile of the daemon; .* give -aws-profile/],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-region', 'Ireland'], {}, /hyperctl: -region "Ireland" is not an AWS region name such as us-east-1 or eu-west-1\n/],
    [['-provider', 'aws', '-vm', 'i-0abc1234'], { AWS_REGION: 'minio' }, /hyperctl: AWS_REGION "minio" is not an AWS region name such as us-east-1 or eu-west-1; give -region/],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-aws-profile', 'a b'], {}, /hyperctl: -aws-profile "a b" is not a profile name of the shared AWS config/],
    [['-provider', 'aws', '-file', 'jobs.yaml'], {}, /hyperctl: -provider, -region, -aws-profile, -keep-snapshots, -since-snapshot, -subscription and -resource-group go with -vm/],
    [['-file', 'jobs.yaml', '-since-snapshot', 'snap-0bbb2222'], {}, /hyperctl: -provider, -region, -aws-profile, -keep-snapshots, -since-snapshot, -subscription and -resource-group go with -vm; .*options\.since_snapshot/],
    [['-vm', '/DC0/vm/a', '-since-snapshot', 'snap-0bbb2222'], {}, /hyperctl: -since-snapshot is for -provider aws: add -provider aws/],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-since-snapshot', 'vol-0aaa1111'], {}, /hyperctl: -since-snapshot "vol-0aaa1111" is not one snapshot id \(snap-…, for a one-disk source\) or an earlier export's kept_snapshot: vol-…=snap-… pairs/],
  ])('submit %j is a usage error (exit 2) sending nothing', async (args, env, expected) => {
    const before = gw.started.length;
    const r = await hyperctl(['submit', '-daemon', daemon, ...args], env);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(expected);
    expect(gw.started.length).toBe(before);
  });

  it('sends -format vhd through the REST API as format vhd, for AWS and vSphere alike', async () => {
    const aws = await hyperctl(['submit', '-daemon', daemon, '-provider', 'aws', '-vm', 'i-0123456789abcdef0', '-region', 'eu-west-3', '-output', 'vhd-aws', '-format', 'vhd']);
    expect(aws.code, aws.err).toBe(0);
    expect(inputOf(aws.out)).toMatchObject({ format: 'vhd', source: { provider: 'aws' } });
    expect(inputOf(aws.out).diskImage).toBeUndefined();
    const vsphere = await hyperctl(['submit', '-daemon', daemon, '-vm', '/DC0/vm/a', '-output', 'vhd-vsphere', '-format=vhd']);
    expect(vsphere.code, vsphere.err).toBe(0);
    expect(inputOf(vsphere.out)).toMatchObject({ format: 'vhd', source: { provider: 'vsphere' } });
  });

  it('leaves a vSphere submit as it was: no provider sent, a vSphere source', async () => {
    const r = await hyperctl(['submit', '-daemon', daemon, '-vm', '/DC0/vm/a', '-output', 'a-out']);
    expect(r.code, r.err).toBe(0);
    expect(inputOf(r.out).source).toEqual({ provider: 'vsphere', profile: 'default' });
  });

  it('documents the flags in --help', async () => {
    const r = await hyperctl(['submit', '--help']);
    expect(r.code).toBe(0);
    // Help text wraps where it likes: compared with its whitespace folded.
    const text = r.out.replace(/\s+/g, ' ');
    for (const flag of ['--provider <name>', 'vsphere (default), aws or azure', '--region <name>', '--aws-profile <name>', '--keep-snapshots', '--since-snapshot <snapshots>', '--subscription <id>', '--resource-group <name>', '--format <ovf|ova|raw|qcow2|vhd>', 'vhd: a fixed VHD']) {
      expect(text).toContain(flag);
    }
  });
});

describe('hyperctl query of an AWS export', () => {
  // A daemon whose exports complete at once, answering what the workflow does: the snapshots kept, the one read changes since.
  let done: UnitGateway;
  let url: string;
  beforeAll(async () => {
    done = await unitGateway({
      env: { AWS_REGION: 'us-east-2' },
      autoComplete: (input) => ({
        ...exportResultOf(input),
        ...(input.options.keepSnapshots ? { keptSnapshot: 'vol-0aaa1111=snap-0eee5555' } : {}),
        ...(input.options.sinceSnapshot ? { sinceSnapshot: input.options.sinceSnapshot } : {}),
      }),
    });
    url = await done.listen();
  });
  afterAll(async () => done?.close());

  it('shows the kept snapshot, and the since snapshot of an incremental export, with -json giving result.kept_snapshot', async () => {
    const first = await hyperctl(['submit', '-daemon', url, '-provider', 'aws', '-vm', 'i-0aaa1111', '-output', 'web01', '-keep-snapshots']);
    const firstId = /Job ID: (\S+)/.exec(first.out)![1]!;
    const shown = await hyperctl(['query', '-daemon', url, '-id', firstId]);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toContain('  Kept:     vol-0aaa1111=snap-0eee5555 (EBS snapshots kept; -since-snapshot for the next export to this output)\n');
    expect(shown.out).not.toContain('Since:');
    const json = JSON.parse((await hyperctl(['query', '-daemon', url, '-id', firstId, '-json'])).out) as { jobs: { result: { kept_snapshot: string } }[] };
    const kept = json.jobs[0]!.result.kept_snapshot;
    expect(kept).toBe('vol-0aaa1111=snap-0eee5555');

    const next = await hyperctl(['submit', '-daemon', url, '-provider', 'aws', '-vm', 'i-0aaa1111', '-output', 'web01', '-since-snapshot', kept]);
    expect(next.code, next.err).toBe(0);
    const nextShown = await hyperctl(['query', '-daemon', url, '-id', /Job ID: (\S+)/.exec(next.out)![1]!]);
    expect(nextShown.out).toContain('  Since:    vol-0aaa1111=snap-0eee5555 (incremental: only the blocks changed since were read)\n');
    expect(nextShown.out).not.toContain('Kept:');
  });
});

describe('hyperctl vms -provider aws', () => {
  it('vms list prints the instances of a region as it prints VMs, each with its Name tag last', async () => {
    const r = await hyperctl(['vms', 'list', '-daemon', daemon, '-provider', 'aws', '-region', 'eu-north-1']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(
      '/eu-north-1/i-0aaa1111\tpoweredOn\t2 CPU\t4096 MiB\t8.0 GiB\tLinux/UNIX\tweb-1\n/eu-north-1/i-0bbb2222\tpoweredOn\t2 CPU\t4096 MiB\t8.0 GiB\tLinux/UNIX\tdb-1\n2 VM(s)\n',
    );
    expect(opened.at(-1)).toEqual({ region: 'eu-north-1' });
    const json = await hyperctl(['-daemon', daemon, 'vms', 'list', '-provider', 'aws', '-aws-profile', 'audit', '-json'], { AWS_REGION: 'eu-south-1' });
    expect(json.code, json.err).toBe(0);
    expect((JSON.parse(json.out) as { total: number }).total).toBe(2);
    expect(opened.at(-1)).toEqual({ region: 'eu-south-1', profile: 'audit' });
  });

  it('vms info describes an instance', async () => {
    const r = await hyperctl(['vms', 'info', '-daemon', daemon, '-provider', 'aws', '-vm', 'i-0bbb2222', '-region', 'eu-west-1']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^id {15}i-0bbb2222\n/);
    expect(r.out).toContain('provider         aws\n');
  });

  it('refuses another provider listing both, and -region without -provider aws (exit 2)', async () => {
    const bad = await hyperctl(['vms', 'list', '-daemon', daemon, '-provider', 'gcp']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('Allowed choices are vsphere, aws, azure.');
    const region = await hyperctl(['vms', 'list', '-daemon', daemon, '-region', 'eu-west-1']);
    expect(region.code).toBe(2);
    expect(region.err).toContain('-region is for -provider aws');
  });
});
