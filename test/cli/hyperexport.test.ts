// hyperexport as a person runs it: a subprocess against a real gateway and a real
// export worker on the harness vcsim, with a VM of its own. Interactive mode runs
// under a pseudo-terminal (util-linux `script`) and is driven by keystrokes.
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../src/api/gateway.js';
import type { HyperConfig } from '../../src/config/types.js';
import { connectVsphere } from '../../src/providers/vsphere/index.js';
import { createTestVm, sha256File } from '../export/helpers.js';
import { startWorker, testConfig, type RunningWorker } from '../harness/export-env.js';
import { runBin, type BinRun } from '../harness/run-bin.js';

const bin = fileURLToPath(new URL('../../bin/hyperexport.js', import.meta.url));
const services = inject('services');
const MiB = 1024 * 1024;
const ESC = String.fromCharCode(27);

function hyperexport(args: string[], env: Record<string, string> = {}, timeout = 90_000): Promise<BinRun> {
  // stdin is not a terminal: no interactive selection.
  return runBin('hyperexport', args, { ...process.env, NO_COLOR: '', HYPERVISOR_URL: '', ...env }, timeout);
}

let config: HyperConfig;
let gateway: RunningGateway;
let idleGateway: RunningGateway;
let connection: Connection;
let worker: RunningWorker;
let daemon: string[];
let vm: { path: string; name: string; hashes: Map<number, string> };

beforeAll(async () => {
  config = testConfig(services);
  connection = await Connection.connect({ address: config.temporal.address! });
  const temporalClient = new Client({ connection, namespace: config.temporal.namespace });
  const deps = { temporalClient, providerFactory: (p: Parameters<typeof connectVsphere>[0]) => connectVsphere(p), startedAt: new Date() };
  gateway = await startGateway(config, deps);
  // A gateway whose task queue no worker polls: its exports stay pending (for Ctrl-C).
  idleGateway = await startGateway({ ...config, temporal: { ...config.temporal, taskQueue: `${config.temporal.taskQueue}-idle` } }, deps);
  daemon = ['-daemon', gateway.url];
  worker = await startWorker(config);
  const name = `hx-cli-${randomBytes(3).toString('hex')}`;
  vm = { name, ...(await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: false })) };
});
afterAll(async () => {
  await worker?.stop();
  await gateway?.stop();
  await idleGateway?.stop();
  await connection?.close();
});

async function expectExported(dir: string, name: string, hashes: Map<number, string>): Promise<void> {
  expect(readdirSync(dir).sort()).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.mf`, `${name}.ovf`]);
  const exported = [await sha256File(join(dir, `${name}-disk1.vmdk`)), await sha256File(join(dir, `${name}-disk2.vmdk`))];
  expect(exported.sort()).toEqual([...hashes.values()].sort());
}

describe('hyperexport through the daemon', () => {
  it('exports a VM non-interactively: files exist, disk hashes equal the source, plain progress lines', async () => {
    const out = join(config.output.allowedRoots[0]!, `hx-${randomBytes(3).toString('hex')}`);
    const run = await hyperexport(['-vm', vm.path, '-output', out, '-parallel', '2', '-interval', '0.2', ...daemon]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    await expectExported(out, vm.name, vm.hashes);
    // Not a terminal: no escape codes, one line per state, and the summary lists every file with its SHA-256.
    expect(run.stdout).not.toContain(ESC);
    expect(run.stdout).toMatch(new RegExp(`${vm.path}: submitted as job hyperexport-${vm.name}-[0-9a-f]{8}`));
    expect(run.stdout).toMatch(new RegExp(`${vm.path}: completed phase=completed 100\\.0%`));
    for (const sha of vm.hashes.values()) expect(run.stdout).toContain(sha);
    expect(run.stdout).toContain(`✔ ${vm.path} -> ${out}`);
  });

  it('-json gives one machine-readable report', async () => {
    const out = join(config.output.allowedRoots[0]!, `hxj-${randomBytes(3).toString('hex')}`);
    const run = await hyperexport(['--vm', vm.path, '--output', out, '--format', 'ova', '--json', ...daemon]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as {
      exports: { status: string; result: { ova_path: string; file_details: { name: string }[]; members: { name: string; sha256: string }[] } }[];
      interrupted: boolean;
    };
    expect(report.interrupted).toBe(false);
    expect(report.exports).toHaveLength(1);
    expect(report.exports[0]!.status).toBe('completed');
    expect(existsSync(report.exports[0]!.result.ova_path)).toBe(true);
    // Written in place: the archive is the only file, its members carry the hashes.
    expect(report.exports[0]!.result.file_details.map((f) => f.name)).toEqual([`${vm.name}.ova`]);
    const disks = report.exports[0]!.result.members.filter((f) => f.name.endsWith('.vmdk')).map((f) => f.sha256);
    expect(disks.sort()).toEqual([...vm.hashes.values()].sort());
  });

  it('-dry-run prints the disks, sizes and files and writes nothing', async () => {
    const out = join(config.output.allowedRoots[0]!, `hxd-${randomBytes(3).toString('hex')}`);
    const run = await hyperexport(['-vm', vm.path, '-output', out, '-dry-run', ...daemon]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`VM ${vm.path} (poweredOff)`);
    expect(run.stdout).toContain('disks (2, 16.0 MiB)');
    expect(run.stdout).toContain(`${vm.name}-disk1.vmdk`);
    expect(run.stdout).toContain(`${vm.name}-disk2.vmdk`);
    expect(run.stdout).toContain(`files: ${vm.name}.ovf, ${vm.name}-disk1.vmdk, ${vm.name}-disk2.vmdk, ${vm.name}.mf`);
    expect(run.stdout).toContain(`output: ${out}`);
    expect(existsSync(out)).toBe(false);

    const json = await hyperexport(['-vm', `${vm.path},/DC0/vm/DC0_H0_VM0`, '-output', out, '-dry-run', '-json', ...daemon]);
    const plan = JSON.parse(json.stdout) as { exports: { vm_path: string; output_dir: string; disks: { capacity_bytes: number }[]; warnings: string[] }[] };
    expect(plan.exports.map((p) => p.vm_path)).toEqual([vm.path, '/DC0/vm/DC0_H0_VM0']);
    // Several VMs: one folder each.
    expect(plan.exports[0]!.output_dir).toBe(join(out, vm.name));
    expect(plan.exports[0]!.disks.map((d) => d.capacity_bytes)).toEqual([8 * MiB, 8 * MiB]);
    expect(existsSync(out)).toBe(false);

    // A VM that does not exist: exit 1, named.
    const missing = await hyperexport(['-vm', '/DC0/vm/no-such-vm', '-dry-run', ...daemon]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('/DC0/vm/no-such-vm');
  });

  it('rejects bad flags and missing -vm (outside a terminal) with usage and exit 2', async () => {
    const cases = [['-nope'], [], ['-vm', 'x', '-format', 'zip'], ['-vm', 'x', '-parallel', '0'], ['-vm', 'x', '-method', 'ftp'], ['-vm', 'x', '-snapshot', '-power-off'], ['-vm', 'x', 'extra']];
    const runs = await Promise.all(cases.map((args) => hyperexport([...args, ...daemon])));
    for (const [i, run] of runs.entries()) {
      expect(run.code, cases[i]!.join(' ')).toBe(2);
      expect(run.stderr, cases[i]!.join(' ')).toContain('Usage: hyperexport');
    }
    const help = await hyperexport(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-standalone');
  });

  it('an unreachable -daemon exits 3 and suggests hypervisord or -standalone (a URL the user named is not bypassed)', async () => {
    const run = await hyperexport(['-vm', vm.path, '-daemon', 'http://127.0.0.1:1']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('cannot reach the daemon at http://127.0.0.1:1');
    expect(run.stderr).toContain('hypervisord');
    expect(run.stderr).toContain('-standalone');
  });

  it('Ctrl-C cancels the export it started and exits 130', async () => {
    const child = spawn(process.execPath, [bin, '-vm', vm.path, '-interval', '0.2', '-daemon', idleGateway.url], { env: { ...process.env, NO_COLOR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!/submitted as job (\S+)/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const id = /submitted as job (\S+)/.exec(stdout)?.[1];
    expect(id, stdout + stderr).toBeDefined();
    child.kill('SIGINT');
    // No worker polls this queue, so the cancellation is recorded but never acted on: a second Ctrl-C stops waiting.
    while (!stderr.includes('Interrupted: cancelling 1 export(s)') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toContain('Interrupted: cancelling 1 export(s)');
    const handle = new Client({ connection, namespace: config.temporal.namespace }).workflow.getHandle(id!);
    let requested = false;
    while (!requested && Date.now() < deadline) {
      const history = await handle.fetchHistory();
      requested = (history.events ?? []).some((e) => e.workflowExecutionCancelRequestedEventAttributes);
      if (!requested) await new Promise((r) => setTimeout(r, 200));
    }
    expect(requested).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    await handle.terminate('test cleanup');
  });

  it('interactive: picks the VM from discovery in a pseudo-terminal, confirms, exports with redrawn progress bars', async () => {
    // Sorts first in the list, whatever VMs other tests create meanwhile.
    const name = `000-hxi-${randomBytes(3).toString('hex')}`;
    const own = await createTestVm(services, name, { disks: 2, sizeBytes: 4 * MiB, poweredOn: false });
    const out = join(config.output.allowedRoots[0]!, `hxi-${randomBytes(3).toString('hex')}`);
    const command = [process.execPath, bin, '-daemon', gateway.url, '-output', out, '-interval', '0.2'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, NO_COLOR: '', COLUMNS: '160', LINES: '50', TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitFor = async (text: string, from: number) => {
      const deadline = Date.now() + 60_000;
      while (!screen.slice(from).includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(screen.slice(from), `waiting for ${text}`).toContain(text);
      return screen.length;
    };
    try {
      let at = await waitFor('Select the VMs to export', 0);
      await waitFor(own.path, 0);
      child.stdin.write(' '); // toggle the first VM (ours)
      at = await waitFor('◉', at);
      child.stdin.write('\r');
      at = await waitFor('Package format', at);
      child.stdin.write('\r'); // OVF
      at = await waitFor('CD-ROM', at);
      child.stdin.write('\r'); // no
      await waitFor('Export 1 VM(s), 8.0 MiB, as OVF', at);
      child.stdin.write('\r'); // yes
      expect(await exited).toBe(0);
    } finally {
      child.stdin.end();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await expectExported(out, name, own.hashes);
    // A terminal: the bars are redrawn in place (cursor up + clear line), per disk, then the summary.
    expect(screen).toMatch(new RegExp(`${ESC}\\[\\d+F`));
    expect(screen).toContain(`${ESC}[2K`);
    expect(screen).toContain(`${name}-disk1.vmdk`);
    expect(screen).toContain('100.0%');
    expect(screen).toContain(`${own.path} -> ${out}`);
  });
});
