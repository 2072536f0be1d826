// hyperexport with no daemon answering: it exports in its own process, as the
// original hyperexport did, and says so on one line. Also the flags the original
// had (-batch, -quiet, -verify, -compress, -folder, -filter, -version) and their
// effect on real exports from the harness vcsim. Temporal is the harness's
// (TEMPORAL_ADDRESS), the export worker runs inside hyperexport.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../src/api/gateway.js';
import { runHyperexport } from '../../src/cli/hyperexport.js';
import type { Prompts } from '../../src/cli/hyperexport/interactive.js';
import type { VmRow } from '../../src/cli/hyperexport/backend.js';
import { freePort } from '../../src/devservices/ports.js';
import { connectVsphere } from '../../src/providers/vsphere/index.js';
import { Client, Connection } from '@temporalio/client';
import { createTestVm, sha256File } from '../export/helpers.js';
import { govc } from '../harness/govc.js';
import { testConfig } from '../harness/export-env.js';
import { runBin, type BinRun } from '../harness/run-bin.js';

const services = inject('services');
const MiB = 1024 * 1024;
const workDirs: string[] = [];
afterAll(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hyperexport-fb-'));
  workDirs.push(dir);
  return dir;
}

function hyperexport(args: string[], env: Record<string, string>): Promise<BinRun> {
  // Nothing from the environment of the test run that would point at a daemon, vCenter or Temporal.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GOVC_|TEMPORAL_|HYPERSDK_|HYPERVISOR|DAEMON_ADDR)/.test(k)));
  return runBin('hyperexport', args, { ...inherited, NO_COLOR: '', ...env }, 110_000);
}

/** vCenter credentials and Temporal as a user sets them, and a daemon URL where nothing listens. */
async function noDaemonEnv(work: string): Promise<{ env: Record<string, string>; url: string }> {
  const url = `http://127.0.0.1:${await freePort()}`;
  return {
    url,
    env: {
      HYPERVISOR_URL: url,
      GOVC_URL: services.vcsim.sdkUrl,
      GOVC_USERNAME: services.vcsim.username,
      GOVC_PASSWORD: services.vcsim.password,
      GOVC_INSECURE: '1',
      TEMPORAL_ADDRESS: services.temporal.address,
      TEMPORAL_NAMESPACE: services.temporal.namespace,
      HYPERSDK_DATA_DIR: join(work, 'state'),
      LOG_LEVEL: 'warn',
    },
  };
}

const fallbackLine = (url: string) => `hyperexport: no daemon at ${url} (ECONNREFUSED); exporting here (standalone)`;

/** name -> SHA-256 of every member of a tar stream. */
async function tarMemberHashes(stream: NodeJS.ReadableStream): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const hash = createHash('sha256');
      entry.on('data', (chunk: Buffer) => hash.update(chunk));
      entry.on('end', () => hashes.set(entry.path, hash.digest('hex')));
    },
  });
  await pipeline(stream, parser);
  return hashes;
}

describe('hyperexport with no daemon answering', () => {
  it('exports in its own process and says so on one line: the disks equal the source', async () => {
    const name = `hx-fb-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 4 * MiB, poweredOn: false });
    const work = workDir();
    const out = join(work, 'out');
    const { env, url } = await noDaemonEnv(work);

    // -provider vsphere and -resume: the original's scripts pass them; both are what hyperexport does anyway.
    const run = await hyperexport(['-vm', vm.path, '-output', out, '-interval', '0.2', '-provider', 'vsphere', '-resume'], env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const notices = run.stderr.split('\n').filter((line) => line.includes('no daemon'));
    expect(notices).toEqual([fallbackLine(url)]);
    expect(readdirSync(out).sort()).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.mf`, `${name}.ovf`]);
    const exported = [await sha256File(join(out, `${name}-disk1.vmdk`)), await sha256File(join(out, `${name}-disk2.vmdk`))];
    expect(exported.sort()).toEqual([...vm.hashes.values()].sort());
    expect(run.stdout).toContain(`✔ ${vm.path} -> ${out}`);
  });

  it('without vCenter credentials it names the variables to set (exit 3) and exports nothing', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = await hyperexport(['-vm', '/DC0/vm/x'], { HYPERVISOR_URL: url, HYPERSDK_DATA_DIR: workDir() });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain(`no daemon at ${url} (ECONNREFUSED)`);
    expect(run.stderr).toContain('set GOVC_URL, GOVC_USERNAME and GOVC_PASSWORD');
    expect(run.stderr).not.toContain('exporting here');
  });

  it('a daemon URL given with -daemon is never bypassed: exit 3, nothing exported here', async () => {
    const work = workDir();
    const { env, url } = await noDaemonEnv(work);
    const out = join(work, 'out');
    const run = await hyperexport(['-daemon', url, '-vm', '/DC0/vm/DC0_H0_VM0', '-output', out], env);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`cannot reach the daemon at ${url}`);
    expect(run.stderr).toContain('-daemon names a daemon');
    expect(run.stderr).not.toContain('exporting here');
    expect(existsSync(out)).toBe(false);
  });

  it("the original's -daemon-url is -daemon, and -use-daemon never exports here either: exit 3, nothing exported", async () => {
    const work = workDir();
    const { env, url } = await noDaemonEnv(work);
    const out = join(work, 'out');
    const named = await hyperexport(['-daemon-url', url, '-vm', '/DC0/vm/DC0_H0_VM0', '-output', out], env);
    expect(named.code, named.stderr).toBe(3);
    expect(named.stderr).toContain(`cannot reach the daemon at ${url}`);
    const required = await hyperexport(['-use-daemon', '-vm', '/DC0/vm/DC0_H0_VM0', '-output', out], env);
    expect(required.code, required.stderr).toBe(3);
    expect(required.stderr).toContain(`cannot reach the daemon at ${url}`);
    for (const run of [named, required]) expect(run.stderr).not.toContain('exporting here');
    expect(existsSync(out)).toBe(false);
  });

  it('a daemon that answers with an error (401) is never bypassed', async () => {
    const config = testConfig(services);
    config.daemon.apiToken = `t-${randomBytes(8).toString('hex')}`;
    const connection = await Connection.connect({ address: config.temporal.address! });
    let gateway: RunningGateway | undefined;
    try {
      gateway = await startGateway(config, {
        temporalClient: new Client({ connection, namespace: config.temporal.namespace }),
        providerFactory: (p) => connectVsphere(p),
        startedAt: new Date(),
      });
      const work = workDir();
      const { env } = await noDaemonEnv(work);
      const run = await hyperexport(['-vm', '/DC0/vm/DC0_H0_VM0', '-output', join(work, 'out')], { ...env, HYPERVISOR_URL: gateway.url });
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain('HYPERSDK_API_TOKEN');
      expect(run.stderr).not.toContain('exporting here');
      expect(existsSync(join(work, 'out'))).toBe(false);
    } finally {
      await gateway?.stop();
      await connection.close();
    }
  });
});

describe("the original's flags", () => {
  let batchVms: { path: string; name: string; hashes: Map<number, string> }[];
  beforeAll(async () => {
    batchVms = [];
    for (const i of [1, 2]) {
      const name = `hx-batch${i}-${randomBytes(3).toString('hex')}`;
      batchVms.push({ name, ...(await createTestVm(services, name, { disks: 1, sizeBytes: 2 * MiB, poweredOn: false })) });
    }
  });

  it('-batch FILE -quiet -verify: every listed VM exported, script-friendly lines only, checksums.txt per VM', async () => {
    const work = workDir();
    const out = join(work, 'out');
    const batch = join(work, 'vms.txt');
    writeFileSync(batch, `# VMs to back up\n${batchVms[0]!.path}\n\n   ${batchVms[1]!.path}  \n`);
    const { env, url } = await noDaemonEnv(work);

    const run = await hyperexport(['-batch', batch, '-output', out, '-quiet', '-verify', '-interval', '0.2'], env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    // -quiet: no progress, no notes; the one line saying where the export runs stays.
    expect(run.stderr).toBe(`${fallbackLine(url)}\n`);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^success: ${batchVms[0]!.path} exported to ${join(out, batchVms[0]!.name)} \\(2\\.0 MiB\\)$`)),
      expect.stringMatching(new RegExp(`^success: ${batchVms[1]!.path} exported to ${join(out, batchVms[1]!.name)} \\(2\\.0 MiB\\)$`)),
      'batch-summary: total=2 success=2 failed=0',
    ]);
    for (const vm of batchVms) {
      const dir = join(out, vm.name);
      expect(await sha256File(join(dir, `${vm.name}-disk1.vmdk`))).toBe([...vm.hashes.values()][0]);
      // -verify: sha256sum format, every exported file, each hash the file's own.
      const checksums = readFileSync(join(dir, 'checksums.txt'), 'utf8').trim().split('\n');
      expect(checksums.map((l) => l.split('  ')[1]).sort()).toEqual([`${vm.name}-disk1.vmdk`, `${vm.name}.mf`, `${vm.name}.ovf`]);
      for (const line of checksums) {
        const [sha, file] = line.split('  ') as [string, string];
        expect(sha).toBe(await sha256File(join(dir, file)));
      }
    }
  });

  it('-compress -verify=true: a gzip-compressed OVA whose disks equal the source; the .ova is replaced', async () => {
    const vm = batchVms[0]!;
    const work = workDir();
    const out = join(work, 'out');
    const { env } = await noDaemonEnv(work);

    const run = await hyperexport(['-vm', vm.path, '-output', out, '-compress', '-verify=true', '-quiet=false', '-interval', '0.2'], env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['checksums.txt', `${vm.name}.ova.gz`]);
    const gz = join(out, `${vm.name}.ova.gz`);
    const members = await tarMemberHashes(createReadStream(gz).pipe(createGunzip()));
    expect(members.get(`${vm.name}-disk1.vmdk`)).toBe([...vm.hashes.values()][0]);
    expect([...members.keys()][0]).toBe(`${vm.name}.ovf`);
    expect(readFileSync(join(out, 'checksums.txt'), 'utf8')).toBe(`${await sha256File(gz)}  ${vm.name}.ova.gz\n`);
    // -quiet=false: progress and the full summary are shown.
    expect(run.stdout).toContain(`compressed: ${gz}`);
    expect(run.stdout).toMatch(/verified: \d+ file\(s\) match the manifest/);
  });

  it('-version prints the version; usage errors name the flag', async () => {
    const version = await hyperexport(['-version'], {});
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^hyperexport version \d+\.\d+\.\d+\n$/);
    const cases: [string[], string][] = [
      [['-vm', 'x', '-compress', '-format', 'ovf'], '-compress'],
      [['-vm', 'x', '-verify', '-output', 's3://bucket/x'], '-verify'],
      [['-batch', '/no/such/file'], '-batch /no/such/file'],
      [['-vm', 'x', '-quiet=maybe'], '-quiet is a switch'],
      [['-vm', 'x', '-provider', 'gcp'], "'--provider <name>' argument 'gcp' is invalid"],
      [['-vm', 'x', '-interactive'], '-interactive picks the VMs in a menu'],
      [['-tui'], '-tui needs a terminal'],
      [['-vm', 'x', '-standalone', '-use-daemon'], '-standalone exports in this process and -use-daemon'],
      [['-vm', 'x', '-daemon', 'http://a:1', '-daemon-url', 'http://b:2'], 'name two daemons'],
      [['-vm', 'x', '-filter', 'power_state=off'], '-filter'],
      [['-filter', 'colour=red'], 'unknown key "colour"'],
    ];
    for (const [args, named] of cases) {
      const run = await hyperexport(args, {});
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toContain(named);
    }
  });

  it('-folder and -filter narrow the interactive list', async () => {
    const folder = `hxf-${randomBytes(3).toString('hex')}`;
    await govc(services, ['folder.create', `/DC0/vm/${folder}`]);
    const on = `hxf-on-${randomBytes(3).toString('hex')}`;
    const off = `hxf-off-${randomBytes(3).toString('hex')}`;
    await createTestVm(services, on, { disks: 1, sizeBytes: 1 * MiB, poweredOn: true });
    await createTestVm(services, off, { disks: 1, sizeBytes: 1 * MiB, poweredOn: false });
    await govc(services, ['object.mv', `/DC0/vm/${on}`, `/DC0/vm/${off}`, `/DC0/vm/${folder}`]);

    const offered = async (args: string[]): Promise<{ code: number; paths: string[]; err: string }> => {
      let paths: string[] = [];
      let err = '';
      const prompts: Prompts = {
        checkbox: <T,>(c: { choices: { value: T }[] }) => {
          paths = c.choices.map((choice) => (choice.value as VmRow).path);
          return Promise.resolve([] as T[]);
        },
        select: () => Promise.reject(new Error('not asked')),
        input: () => Promise.reject(new Error('not asked')),
        confirm: () => Promise.resolve(false),
      };
      const { env } = await noDaemonEnv(workDir());
      const code = await runHyperexport(['-standalone', ...args], {
        io: { out: () => undefined, err: (t) => void (err += t), isTty: false, env },
        interactive: true,
        prompts,
        onInterrupt: () => () => undefined,
      });
      return { code, paths, err };
    };

    const inFolder = await offered(['-folder', `/DC0/vm/${folder}/`]);
    expect(inFolder.code, inFolder.err).toBe(0);
    expect(inFolder.paths).toEqual([`/DC0/vm/${folder}/${off}`, `/DC0/vm/${folder}/${on}`]);

    const offOnly = await offered(['-folder', folder, '-filter', 'power_state=off']);
    expect(offOnly.paths).toEqual([`/DC0/vm/${folder}/${off}`]);
    const onOnly = await offered(['-folder', folder, '-filter=power=poweredOn']);
    expect(onOnly.paths).toEqual([`/DC0/vm/${folder}/${on}`]);

    const none = await offered(['-folder', folder, '-filter', 'name=no-such-vm']);
    expect(none.code).toBe(1);
    expect(none.err).toContain('match -folder');

    // No daemon answering, interactive: the export would run here, so the output directory is asked for (no daemon to pick one).
    const inputs: string[] = [];
    const { env, url } = await noDaemonEnv(workDir());
    let err = '';
    const code = await runHyperexport(['-folder', folder, '-filter', 'power=off', '-format', 'ovf'], {
      io: { out: () => undefined, err: (t) => void (err += t), isTty: false, env },
      interactive: true,
      prompts: {
        checkbox: <T,>(c: { choices: { value: T }[] }) => Promise.resolve(c.choices.map((choice) => choice.value)),
        select: () => Promise.reject(new Error('not asked')),
        input: (c) => {
          inputs.push(`${c.message} [${c.default ?? ''}]`);
          return Promise.resolve('');
        },
        confirm: () => Promise.resolve(false),
      },
      onInterrupt: () => () => undefined,
    });
    expect(code, err).toBe(0);
    expect(err).toContain(fallbackLine(url));
    expect(inputs).toEqual(['Output directory [./exports]']);
  });
});
