// hyperexport with -provider aws, run in-process against the real gateway app served
// on loopback (its Temporal client records the workflows started and completes them
// at once): the flags and the interactive choices become an AWS job; what an AWS
// export cannot do is a usage error before anything is sent; without a daemon it
// says that AWS needs one.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsTarget } from '../api/deps.js';
import { awsInstance, exportResultOf, fakeAwsProvider, unitGateway, type UnitGateway } from '../api/test-support.js';
import type { ExportWorkflowInput } from '../core/export-contract.js';
import { runHyperexport } from './hyperexport.js';
import type { Choice, Prompts } from './hyperexport/interactive.js';
import type { CliIo } from './io.js';

let gw: UnitGateway;
let daemon: string;
const opened: AwsTarget[] = [];

beforeAll(async () => {
  gw = await unitGateway({
    env: { AWS_REGION: 'us-east-2' },
    // As the workflow answers: the snapshots kept (keep_snapshots), the one an incremental export read changes since.
    autoComplete: (input) => ({
      ...exportResultOf(input),
      ...(input.options.keepSnapshots ? { keptSnapshot: 'vol-0aaa1111=snap-0ccc3333' } : {}),
      ...(input.options.sinceSnapshot ? { sinceSnapshot: input.options.sinceSnapshot } : {}),
    }),
    awsProviderFactory: (target) => {
      opened.push(target);
      const running = awsInstance('i-0aaa1111', 'web-1', target.region);
      const stopped = { ...awsInstance('i-0bbb2222', 'db-1', target.region), powerState: 'poweredOff' as const };
      return Promise.resolve(fakeAwsProvider([running, stopped]));
    },
  });
  daemon = await gw.listen();
});
afterAll(async () => gw?.close());

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function hyperexport(args: string[], options: { env?: NodeJS.ProcessEnv; prompts?: Prompts } = {}) {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env: options.env ?? {} };
  const code = await runHyperexport(args, {
    io,
    interactive: options.prompts !== undefined,
    ...(options.prompts ? { prompts: options.prompts } : {}),
    onInterrupt: () => () => undefined,
    columns: 100,
  });
  return { code, out, err };
}

/** The inputs of the workflows started by the run, by vm path. */
function inputsSince(before: number): ExportWorkflowInput[] {
  return gw.started.slice(before).map((s) => (s.options.args as ExportWorkflowInput[])[0]!);
}

describe('hyperexport -provider aws', () => {
  it('exports an instance through the daemon with -region, -aws-profile, -keep-snapshots and -format raw', async () => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-region', 'eu-west-1', '-aws-profile', 'migration', '-vm', 'i-0aaa1111', '-keep-snapshots', '-format', 'raw', '-snapshot', '-json', '-interval', '0.1']);
    expect(r.code, r.err).toBe(0);
    expect(inputsSince(before)).toEqual([
      expect.objectContaining({
        vmPath: 'i-0aaa1111',
        format: 'raw',
        method: 'auto',
        source: { provider: 'aws', region: 'eu-west-1', profile: 'migration' },
        options: expect.objectContaining({ keepSnapshots: true, snapshot: true }) as unknown,
      }) as unknown,
    ]);
    const report = JSON.parse(r.out) as { exports: { vm_path: string; status: string }[] };
    expect(report.exports).toEqual([expect.objectContaining({ vm_path: 'i-0aaa1111', status: 'completed' }) as unknown]);
  });

  it('-since-snapshot exports incrementally (options.sinceSnapshot) and the summary names the since and kept snapshots to chain the next', async () => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-region', 'eu-west-1', '-vm', 'i-0aaa1111', '-format', 'raw', '-since-snapshot', 'vol-0aaa1111=snap-0bbb2222', '--keep-snapshots', '-interval', '0.1']);
    expect(r.code, r.err).toBe(0);
    expect(inputsSince(before)).toEqual([
      expect.objectContaining({ vmPath: 'i-0aaa1111', format: 'raw', options: expect.objectContaining({ sinceSnapshot: 'vol-0aaa1111=snap-0bbb2222', keepSnapshots: true }) as unknown }) as unknown,
    ]);
    expect(r.out).toContain('    since snapshot: vol-0aaa1111=snap-0bbb2222 (only the blocks changed since were read)\n');
    expect(r.out).toContain('    kept snapshot: vol-0aaa1111=snap-0ccc3333 (give it as -since-snapshot to the next export to this output)\n');
    // -json carries them in the result; a one-disk source takes one snapshot id (Go-style -flag=value).
    const json = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-vm', 'vol-0aaa1111', '-since-snapshot=snap-0bbb2222', '-json', '-interval', '0.1']);
    expect(json.code, json.err).toBe(0);
    const report = JSON.parse(json.out) as { exports: { result: Record<string, unknown> }[] };
    expect(report.exports[0]!.result).toMatchObject({ since_snapshot: 'snap-0bbb2222' });
    expect(report.exports[0]!.result).not.toHaveProperty('kept_snapshot');
  });

  it('-format ova reaches the daemon, which describes the instance with qcow2 disks (diskImage)', async () => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-region', 'eu-west-1', '-vm', 'i-0aaa1111', '-format', 'ova', '-quiet', '-interval', '0.1']);
    expect(r.code, r.err).toBe(0);
    expect(inputsSince(before)).toEqual([expect.objectContaining({ vmPath: 'i-0aaa1111', format: 'ova', diskImage: 'qcow2' }) as unknown]);
  });

  it("takes the region from AWS_REGION here, else leaves it to the daemon's aws.region", async () => {
    let before = gw.started.length;
    const fromEnv = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-vm', 'web-1', '-quiet', '-interval', '0.1'], { env: { AWS_REGION: 'eu-central-2' } });
    expect(fromEnv.code, fromEnv.err).toBe(0);
    expect(inputsSince(before).map((i) => [i.source, i.format])).toEqual([[{ provider: 'aws', region: 'eu-central-2' }, 'qcow2']]);
    expect(fromEnv.out).toMatch(/^success: web-1 exported to /m);
    before = gw.started.length;
    const fromDaemon = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-vm', 'web-1', '-quiet', '-interval', '0.1']);
    expect(fromDaemon.code, fromDaemon.err).toBe(0);
    expect(inputsSince(before)[0]!.source).toEqual({ provider: 'aws', region: 'us-east-2' });
  });

  it('picks instances interactively from the region, offering only raw and qcow2 and no CD-ROM question', async () => {
    const asked: string[] = [];
    let formats: unknown[] = [];
    const prompts: Prompts = {
      checkbox: <T>(c: { message: string; choices: Choice<T>[] }) => {
        asked.push(`checkbox:${c.choices.map((x) => x.name.split(' ')[0]).join(',')}`);
        return Promise.resolve(c.choices.map((x) => x.value));
      },
      select: <T>(c: { message: string; choices: Choice<T>[] }) => {
        asked.push(`select:${c.message}`);
        if (c.message.startsWith('Format (')) formats = c.choices.map((x) => x.value);
        return Promise.resolve((c.message.startsWith('Format (') ? 'qcow2' : 'power-off') as T);
      },
      input: () => Promise.resolve(''),
      confirm: (c) => {
        asked.push(`confirm:${c.message}`);
        return Promise.resolve(true);
      },
    };
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-region', 'sa-east-1', '-quiet', '-interval', '0.1'], { prompts });
    expect(r.code, r.err).toBe(0);
    expect(opened.at(-1)).toEqual({ region: 'sa-east-1' });
    expect(asked[0]).toBe('checkbox:/sa-east-1/i-0aaa1111,/sa-east-1/i-0bbb2222');
    expect(asked[1]).toBe('select:1 selected instance(s) are running. How should they be exported?');
    expect(formats).toEqual(['ovf', 'ova', 'qcow2', 'raw', 'vhd']);
    expect(asked.filter((a) => a.includes('CD-ROM'))).toEqual([]);
    // The listed path /<region>/<id> names the instance and its region.
    expect(inputsSince(before).map((i) => [i.vmPath, i.source, i.format, i.options.powerOff])).toEqual([
      ['i-0aaa1111', { provider: 'aws', region: 'sa-east-1' }, 'qcow2', true],
      ['i-0bbb2222', { provider: 'aws', region: 'sa-east-1' }, 'qcow2', true],
    ]);
  });

  it('-dry-run describes the instance and plans qcow2 images', async () => {
    const r = await hyperexport(['-daemon', daemon, '-provider', 'aws', '-region', 'eu-west-1', '-vm', 'i-0bbb2222', '-dry-run']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('VM /eu-west-1/i-0bbb2222 (poweredOff)');
    expect(r.out).toContain('method auto, format qcow2');
  });

  it.each([
    [['-provider', 'gcp', '-vm', 'x'], "option '--provider <name>' argument 'gcp' is invalid. Allowed choices are vsphere, aws, azure."],
    [['-vm', '/DC0/vm/a', '-region', 'eu-west-1'], 'hyperexport: -region is for -provider aws: add -provider aws'],
    [['-vm', '/DC0/vm/a', '-keep-snapshots'], 'hyperexport: -keep-snapshots is for -provider aws or azure (a vSphere export always removes the snapshot it took): add -provider aws or azure'],
    [['-vm', '/DC0/vm/a', '-since-snapshot', 'snap-0bbb2222'], 'hyperexport: -since-snapshot is for -provider aws: add -provider aws'],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-since-snapshot', 'snap-0bbb2222,snap-0ccc3333'], 'hyperexport: -since-snapshot "snap-0bbb2222,snap-0ccc3333" is not one snapshot id (snap-…, for a one-disk source) or an earlier export\'s kept_snapshot'],
    [['-provider', 'aws', '-vm', 'i-0aaa1111,i-0bbb2222', '-since-snapshot', 'snap-0bbb2222'], "hyperexport: -since-snapshot names the earlier snapshots of one instance's disks: give it with one -vm, not 2"],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-method', 'datastore'], 'hyperexport: -method datastore is a vSphere export method'],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-profile', 'default'], 'hyperexport: -profile names a vCenter profile; for a profile of the daemon\'s shared AWS config give -aws-profile'],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-region', 'Ireland'], 'hyperexport: -region "Ireland" is not an AWS region name such as us-east-1 or eu-west-1'],
  ])('%j is a usage error (exit 2) sending nothing', async (args, expected) => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(expected);
    expect(gw.started.length).toBe(before);
  });

  it('with no daemon answering exports here, and with no region to read refuses naming -region (exit 2) before contacting anything', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await hyperexport(['-provider', 'aws', '-vm', 'i-0abc1234'], { env: { HYPERVISOR_URL: url } });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`hyperexport: no daemon at ${url} (ECONNREFUSED); exporting here (standalone)\n`);
    expect(r.err).toContain("hyperexport: -region: is required for provider aws: give -region (e.g. us-east-1), or set aws.region (AWS_REGION) in this process's configuration\n");
  });

  it('documents the flags in --help', async () => {
    const r = await hyperexport(['--help']);
    expect(r.code).toBe(0);
    for (const text of ['--provider <name>', 'vsphere (default), aws or azure', '--region <name>', '--aws-profile <name>', '--keep-snapshots', '--since-snapshot <snapshots>', '-since-snapshot vol-0aaa=snap-0bbb', 'hyperexport -provider aws -region eu-west-1 -vm i-0123456789abcdef0', 'raw, qcow2 or vhd', '"qcow2", "vhd")']) {
      expect(r.out).toContain(text);
    }
  });
});
