// A real client of the original hypersdk, unchanged: hyper2kvm 0.2.1's HyperCtlRunner
// (installed from the registry by scripts/install-hyper2kvm.sh) runs our hyperctl as
// a subprocess against a real hypervisord. hyper2kvm never passes -daemon, so the
// daemon's address reaches hyperctl only through the environment hyper2kvm users
// set, HYPERVISORD_URL; no other address variable is set here.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestVm } from '../export/helpers.js';
import { startDaemon, type Daemon } from '../e2e/daemon.js';
import { api, vmdkHashes } from './helpers.js';

const services = inject('services');
const MiB = 1024 * 1024;
const repo = fileURLToPath(new URL('../../', import.meta.url));
const venvPython = join(repo, '.tools', 'venv-hyper2kvm', 'bin', 'python');
const driver = fileURLToPath(new URL('./hyper2kvm_driver.py', import.meta.url));
const hyperctl = join(repo, 'bin', 'hyperctl.js');
/** Variables that would point hyperctl somewhere: none may help it here but HYPERVISORD_URL. */
const ADDRESS_VARIABLES = ['HYPERVISOR_URL', 'HYPERVISORD_URL', 'HYPERSDK_DAEMON_URL', 'DAEMON_ADDR'];

let daemon: Daemon;

beforeAll(async () => {
  if (!existsSync(venvPython))
    throw new Error(`hyper2kvm is not installed at ${venvPython}: run bash scripts/install-tools.sh`);
  daemon = await startDaemon(services);
});
afterAll(async () => {
  await daemon?.stop();
});

function runDriver(
  vmPath: string,
  output: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ADDRESS_VARIABLES) delete env[name];
  Object.assign(env, {
    HYPERVISORD_URL: daemon.url,
    HYPERCTL_PATH: hyperctl,
    // hyperctl.js starts with #!/usr/bin/env node: the node running the tests.
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  });
  return new Promise((resolve, reject) => {
    const child = spawn(venvPython, [driver, vmPath, output], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

describe('hyper2kvm HyperCtlRunner, unchanged', () => {
  it('checks the daemon, exports a VM and sees it completed; the files are the VM disks', async () => {
    const name = `h2k-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 16 * MiB, poweredOn: false });
    const output = join(daemon.exportRoot, name);

    const run = await runDriver(vm.path, output);
    const last = run.stdout.trim().split('\n').pop() ?? '';
    expect(run.code, `driver: ${run.stdout}\n${run.stderr}`).toBe(0);
    const answer = JSON.parse(last) as { daemon: string; job_id: string; query_output: string };
    expect(answer.daemon).toBe('running');
    expect(answer.query_output.toLowerCase()).toContain('completed');

    // hyper2kvm stops polling at the first output holding "completed": the job must
    // really be done then, with every disk in place.
    const job = await api(daemon.url, 'GET', `/jobs/${answer.job_id}`);
    expect(job.status, job.text).toBe(200);
    expect((job.body as { status: string }).status).toBe('completed');
    expect(readdirSync(output).some((f) => f.endsWith('.ovf'))).toBe(true);
    expect(await vmdkHashes(output)).toEqual([...vm.hashes.values()].sort());
  });
});
