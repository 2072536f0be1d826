// What the daemon benchmarks share (bench/large.ts, bench/formats.ts): a real
// hypervisord process started as the deployments start it, hyperctl run against
// it, and the measurements taken from outside (/proc, Python's hashlib).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { daemonCommand } from '../src/daemon/process-settings.js';
import { dyingWithParent } from '../src/devservices/process.js';
import { freePort } from '../src/devservices/ports.js';
import { projectRoot } from '../src/devservices/tools.js';

export const run = promisify(execFile);
const MiB = 1024 * 1024;

/**
 * SHA-256 by Python's hashlib (OpenSSL's SHA-NI code, ~1.4 GB/s here against ~0.4 GB/s
 * for coreutils sha256sum) of a file, or of an archive's member extracted by GNU tar.
 */
export async function sha256Of(file: string, member?: string): Promise<string> {
  const hasher = `python3 -c 'import hashlib,sys
h = hashlib.sha256()
for b in iter(lambda: sys.stdin.buffer.read(1 << 20), b""): h.update(b)
print(h.hexdigest())'`;
  const script = member === undefined ? `${hasher} < "$1"` : `set -o pipefail; tar -xOf "$1" "$2" | ${hasher}`;
  const { stdout } = await run('bash', ['-c', script, 'sha256', file, ...(member === undefined ? [] : [member])], { maxBuffer: MiB });
  return stdout.trim();
}

/** A field of /proc/<pid>/status in bytes (VmHWM: peak resident; VmRSS: resident now). */
export function statusField(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's VmHWM (Linux: clear_refs 5), so the next peak is the next leg's. False when not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** The 1-minute load average (what else the machine was doing during a measurement). */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

export interface Daemon {
  pid: number;
  url: string;
  temporalAddress: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
  /** SIGKILL (its embedded Temporal dies with it: pdeathsig). */
  kill(): Promise<void>;
}

/** hypervisord (gateway + worker + embedded Temporal dev server) writing under `outRoot`, reading from vcsim. */
export async function startDaemon(workDir: string, outRoot: string, vcsim: { sdkUrl: string; username: string; password: string }): Promise<Daemon> {
  const port = await freePort();
  const configFile = join(workDir, 'hypervisord.yaml');
  writeFileSync(configFile, [`daemon:`, `  data_dir: ${join(workDir, 'daemon')}`, `output:`, `  allowed_roots: [${outRoot}]`, `log_level: warn`, ''].join('\n'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOVC_URL: vcsim.sdkUrl,
    GOVC_USERNAME: vcsim.username,
    GOVC_PASSWORD: vcsim.password,
    GOVC_INSECURE: '1', // vcsim's certificate is self-signed
    DAEMON_ADDR: `127.0.0.1:${port}`,
    HYPERVISOR_URL: `http://127.0.0.1:${port}`,
    NO_COLOR: '1',
  };
  let out = '';
  // Started as the deployments start it (node flags and environment of src/daemon/process-settings.ts).
  const command = daemonCommand(join(projectRoot, 'bin/hypervisord.js'), ['-config', configFile], env);
  const child: ChildProcess = spawn(...dyingWithParent(process.execPath, command.args), {
    env: command.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 600 && !out.includes('hypervisord: ready'); i++) {
    if (child.exitCode !== null) throw new Error(`hypervisord exited:\n${out}`);
    await sleep(100);
  }
  const temporalAddress = /embedded Temporal dev server on (\S+)/.exec(out)?.[1];
  if (!out.includes('hypervisord: ready') || !temporalAddress || child.pid === undefined) throw new Error(`hypervisord not ready in 60 s:\n${out}`);
  return {
    pid: child.pid, // setpriv execs node in place: the same process
    url: `http://127.0.0.1:${port}`,
    temporalAddress,
    env,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export function hyperctl(daemon: Daemon, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin/hyperctl.js'), ...args], { env: daemon.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

export interface JobView {
  status: string;
  error?: string;
  result?: { output_dir?: string; ovf_path?: string };
}

/** `hyperctl submit …`; returns the job id. */
export async function submitJob(daemon: Daemon, args: string[]): Promise<string> {
  const submitted = await hyperctl(daemon, ['submit', ...args]);
  const jobId = /Job ID: (\S+)/.exec(submitted.stdout)?.[1];
  if (submitted.code !== 0 || !jobId) throw new Error(`submit failed: ${submitted.stdout}`);
  return jobId;
}

export async function jobView(daemon: Daemon, jobId: string): Promise<JobView> {
  const res = await fetch(`${daemon.url}/jobs/${encodeURIComponent(jobId)}`);
  return (await res.json()) as JobView;
}

export const isFinal = (status: string) => ['completed', 'failed', 'cancelled'].includes(status);
