// The original hypersdk's deployment, unchanged, runs ours: hypervisord started
// with its systemd unit's command line (plus --log-level INFO), reading a
// configuration file that holds only the original's documented keys and the
// unit's environment (with its empty GOVC_PASSWORD=); hyperctl as hyper2kvm runs
// it, finding the daemon through hyper2kvm's HYPERVISORD_URL. A VM exported from
// vcsim through it must arrive with the disks' exact bytes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { daemonCommand } from '../../src/daemon/process-settings.js';
import { dyingWithParent } from '../../src/devservices/process.js';
import { freePort } from '../../src/devservices/ports.js';
import { createTestVm, sha256File } from '../export/helpers.js';
import { runBin, type BinRun } from '../harness/run-bin.js';

const services = inject('services');
const bin = (name: string) => fileURLToPath(new URL(`../../bin/${name}.js`, import.meta.url));
const MiB = 1024 * 1024;

/** The environment without any variable that could point hyperctl or the daemon elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(GOVC_|HYPERSDK_|HYPERVISOR|TEMPORAL_|DAEMON_ADDR$|LOG_LEVEL$|DOWNLOAD_WORKERS$)/.test(name)) delete env[name];
  }
  return env;
}

interface Started {
  url: string;
  port: number;
  dir: string;
  exportRoot: string;
  log: () => string;
  signal(name: NodeJS.Signals): void;
  stop(): Promise<void>;
}

const running: Started[] = [];
afterAll(async () => {
  for (const daemon of running) await daemon.stop();
});

/** hypervisord with exactly `args` after the program name, as the unit's ExecStart gives them. */
async function startHypervisord(args: (configFile: string) => string[], configText: (port: number) => string, ready = 'hypervisord: ready'): Promise<Started> {
  const dir = join(services.workDir, `original-${randomBytes(3).toString('hex')}`);
  const exportRoot = join(dir, 'exports');
  mkdirSync(exportRoot, { recursive: true });
  const port = await freePort();
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, configText(port));
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    // The original unit's environment, with the vCenter ones taken from the file instead.
    GOVC_PASSWORD: '',
    GOVC_INSECURE: '1',
    LOG_LEVEL: 'info',
    // Where this test keeps state and exports (the unit's machine has /var/lib/hypersdk).
    HYPERSDK_DATA_DIR: dir,
    HYPERSDK_OUTPUT_ROOTS: exportRoot,
    TEMPORAL_ADDRESS: services.temporal.address,
    HYPERSDK_TASK_QUEUE: `original-${randomBytes(4).toString('hex')}`,
  };
  const command = daemonCommand(bin('hypervisord'), args(configFile), env);
  let log = '';
  const child: ChildProcess = spawn(...dyingWithParent(process.execPath, command.args), { env: command.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started: Started = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    exportRoot,
    log: () => log,
    signal: (name) => child.kill(name),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  running.push(started);
  for (let i = 0; i < 600 && !log.includes(ready); i++) {
    if (child.exitCode !== null) throw new Error(`hypervisord exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!log.includes(ready)) throw new Error(`hypervisord not ready in 60 s:\n${log}`);
  return started;
}

function hyperctl(args: string[], env: NodeJS.ProcessEnv): Promise<BinRun> {
  return runBin('hyperctl', args, { ...cleanEnv(), NO_COLOR: '1', ...env });
}

/** Only the original's documented keys, in its README's spelling. */
const originalConfig = (port: number) =>
  [
    `VCenterURL: "${services.vcsim.sdkUrl}"`,
    `Username: "${services.vcsim.username}"`,
    `Password: "${services.vcsim.password}"`,
    'Insecure: true',
    `DaemonAddr: "127.0.0.1:${port}"`,
    'LogLevel: info',
    'DownloadWorkers: 2',
    '',
  ].join('\n');

describe('the original deployment runs hypersdk', () => {
  it('hypervisord --config <original file> --log-level INFO exports a VM that hyperctl submits and watches', async () => {
    const daemon = await startHypervisord((config) => ['--config', config, '--log-level', 'INFO'], originalConfig);
    expect(daemon.log()).toContain('log level info (--log-level)');
    expect(daemon.log()).toContain("read the original daemon's settings");
    expect(daemon.log()).not.toContain('invalid configuration');

    const name = `orig-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 16 * MiB, poweredOn: false });
    const output = join(daemon.exportRoot, name);
    // hyper2kvm's variable alone leads hyperctl to the daemon.
    const env = { HYPERVISORD_URL: daemon.url };
    const submit = await hyperctl(['submit', '-vm', vm.path, '-output', output], env);
    expect(submit.code, submit.stderr).toBe(0);
    const id = /job id:\s*(\S+)\s*$/im.exec(submit.stdout)?.[1];
    expect(id, submit.stdout).toBeDefined();

    const watch = await hyperctl(['watch', id!, '-timeout', '120'], env);
    expect(watch.code, `${watch.stdout}\n${watch.stderr}`).toBe(0);
    expect(watch.stdout).toContain('completed');

    const query = await hyperctl(['query', '-id', id!, '-all=false'], env);
    expect(query.stdout).toContain('completed');

    const disks = readdirSync(output).filter((f) => f.endsWith('.vmdk')).sort();
    expect(disks).toHaveLength(2);
    const hashes = await Promise.all(disks.map((f) => sha256File(join(output, f))));
    expect(hashes.sort()).toEqual([...vm.hashes.values()].sort());
    // The password of the file is in no line the daemon wrote.
    if (services.vcsim.password.length >= 6) expect(daemon.log()).not.toContain(services.vcsim.password);
  });

  it('hypervisord --disable-web keeps the REST API that hyperctl and hyper2kvm use, as the original did (it turned off only its web dashboard)', async () => {
    const daemon = await startHypervisord((config) => ['--config', config, '--disable-web'], originalConfig);
    expect(daemon.log()).toContain('--disable-web: there is no web dashboard to turn off');
    expect(daemon.log()).toMatch(/worker \S+ polling task queues/);
    const status = await hyperctl(['-daemon', daemon.url, 'status'], {});
    expect(status.code, status.stderr).toBe(0);
  });

  it("survives the original unit's ExecReload (SIGHUP), saying the configuration is read at start", async () => {
    const daemon = await startHypervisord((config) => ['--config', config], originalConfig);
    daemon.signal('SIGHUP');
    for (let i = 0; i < 50 && !daemon.log().includes('SIGHUP:'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(daemon.log()).toContain('SIGHUP: the configuration is read only at start');
    const status = await hyperctl(['-daemon', daemon.url, 'status'], {});
    expect(status.code, status.stderr).toBe(0);
  });
});
