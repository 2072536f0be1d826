// A real hypervisord in a child process (gateway + worker) against the harness
// Temporal and vcsim, configured through a YAML file and GOVC_* environment the
// way an operator would. Its stderr is kept so tests can check what it logged.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonCommand } from '../../src/daemon/process-settings.js';
import { dyingWithParent } from '../../src/devservices/process.js';
import { freePort } from '../../src/devservices/ports.js';
import type { ServiceInfo } from '../harness/services.js';
import { runBin, type BinRun } from '../harness/run-bin.js';

const bin = (name: string) => fileURLToPath(new URL(`../../bin/${name}.js`, import.meta.url));

export interface Daemon {
  url: string;
  exportRoot: string;
  /** Its daemon.data_dir. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
  log: () => string;
  stop(): Promise<void>;
}

/** What a daemon needs from the harness: Temporal, a work directory and, for vSphere, vcsim. */
export type DaemonServices = Pick<ServiceInfo, 'workDir' | 'temporal'> & Partial<Pick<ServiceInfo, 'vcsim'>>;

/** `extraEnv` also reaches the hyperctl runs of hyperctl(daemon, ...). */
export async function startDaemon(services: DaemonServices, extraYaml = '', extraEnv: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const dir = join(services.workDir, `daemon-${randomBytes(3).toString('hex')}`);
  const exportRoot = join(dir, 'exports');
  mkdirSync(exportRoot, { recursive: true });
  const port = await freePort();
  const configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    [
      'temporal:',
      `  address: ${services.temporal.address}`,
      `  task_queue: e2e-${randomBytes(4).toString('hex')}`,
      'daemon:',
      `  data_dir: ${dir}`,
      'output:',
      `  allowed_roots: [${exportRoot}]`,
      'log_level: warn',
      extraYaml,
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(services.vcsim
      ? { GOVC_URL: services.vcsim.sdkUrl, GOVC_USERNAME: services.vcsim.username, GOVC_PASSWORD: services.vcsim.password, GOVC_INSECURE: '1' }
      : {}),
    DAEMON_ADDR: `127.0.0.1:${port}`,
    HYPERVISOR_URL: `http://127.0.0.1:${port}`,
    ...extraEnv,
  };
  let log = '';
  // Started as the deployments start it (node flags and environment of process-settings.ts).
  const command = daemonCommand(bin('hypervisord'), ['-config', configFile], env);
  const child: ChildProcess = spawn(...dyingWithParent(process.execPath, command.args), {
    env: command.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 600 && !log.includes('hypervisord: ready'); i++) {
    if (child.exitCode !== null) throw new Error(`hypervisord exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!log.includes('hypervisord: ready')) throw new Error(`hypervisord not ready in 60 s:\n${log}`);
  return {
    url: `http://127.0.0.1:${port}`,
    exportRoot,
    dataDir: dir,
    env,
    log: () => log,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `hyperctl` as hyper2kvm does: a subprocess, text output. */
export function hyperctl(daemon: Daemon, args: string[]): Promise<BinRun> {
  return runBin('hyperctl', args, daemon.env);
}
