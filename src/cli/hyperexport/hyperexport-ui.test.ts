// Unit tests of hyperexport's selection flow (prompts injected), progress
// rendering and export plans.
import { describe, expect, it } from 'vitest';
import type { Job } from '../../jobs/job-schemas.js';
import type { CliIo } from '../io.js';
import type { VmInfo, VmRow } from './backend.js';
import { chooseInteractively, type Prompts } from './interactive.js';
import { planExport } from './plan.js';
import { formatEta, ProgressDisplay, RateWindow } from './progress.js';
import { summarise } from './run.js';

const MiB = 1024 * 1024;
const ESC = String.fromCharCode(27);

function vm(path: string, power: string): VmRow {
  return { name: path.split('/').pop()!, path, power_state: power, guest_os: 'Ubuntu', memory_mb: 1024, num_cpu: 2, storage_bytes: 10 * MiB };
}

/** Prompts that answer from a script and record what they were asked. */
function scripted(answers: { checkbox: (choices: VmRow[]) => VmRow[]; select?: unknown[]; input?: string[]; confirm?: boolean[] }) {
  const asked: string[] = [];
  const selects = [...(answers.select ?? [])];
  const inputs = [...(answers.input ?? [])];
  const confirms = [...(answers.confirm ?? [])];
  const prompts: Prompts = {
    checkbox: <T>(c: { message: string; choices: { value: T }[] }) => {
      asked.push(`checkbox:${c.message}`);
      return Promise.resolve(answers.checkbox(c.choices.map((x) => x.value as VmRow)) as T[]);
    },
    select: <T>(c: { message: string }) => {
      asked.push(`select:${c.message}`);
      return Promise.resolve(selects.shift() as T);
    },
    input: (c) => {
      asked.push(`input:${c.message}`);
      return Promise.resolve(inputs.shift() ?? '');
    },
    confirm: (c) => {
      asked.push(`confirm:${c.message}`);
      return Promise.resolve(confirms.shift() ?? true);
    },
  };
  return { prompts, asked };
}

const defaults = { snapshot: false, powerOff: false, removeCdrom: false, outputRequired: false };

describe('interactive selection', () => {
  const vms = [vm('/DC0/vm/b-on', 'poweredOn'), vm('/DC0/vm/a-off', 'poweredOff')];

  it('lists VMs sorted by path and asks how to export powered-on ones', async () => {
    const { prompts, asked } = scripted({ checkbox: (choices) => choices, select: ['snapshot', 'ova'], input: ['/exports/x'], confirm: [true, true] });
    const selection = await chooseInteractively(vms, defaults, prompts);
    expect(selection).toMatchObject({ format: 'ova', output: '/exports/x', snapshot: true, powerOff: false, removeCdrom: true });
    expect(selection!.vms.map((v) => v.path)).toEqual(['/DC0/vm/a-off', '/DC0/vm/b-on']);
    expect(asked[1]).toContain('1 selected VM(s) are powered on');
    expect(asked.at(-1)).toContain('Export 2 VM(s), 20.0 MiB, as OVA to /exports/x, snapshots of running VMs?');
  });

  it('can skip powered-on VMs; flags given on the command line are not asked again', async () => {
    const { prompts, asked } = scripted({ checkbox: (choices) => choices, select: ['skip'], confirm: [true] });
    const selection = await chooseInteractively(vms, { ...defaults, format: 'ovf', output: '/o', removeCdrom: true }, prompts);
    expect(selection!.vms.map((v) => v.path)).toEqual(['/DC0/vm/a-off']);
    expect(asked.filter((a) => a.startsWith('input') || a.includes('Package format') || a.includes('CD-ROM'))).toEqual([]);
  });

  it('declining the confirmation exports nothing', async () => {
    const { prompts } = scripted({ checkbox: (choices) => [choices[0]!], select: ['ovf'], input: [''], confirm: [false, false] });
    expect(await chooseInteractively(vms, defaults, prompts)).toBeUndefined();
  });

  it('an empty output answer leaves the directory to the daemon', async () => {
    const { prompts } = scripted({ checkbox: (choices) => [choices[0]!], select: ['ovf'], input: [''], confirm: [false, true] });
    const selection = await chooseInteractively(vms, defaults, prompts);
    expect(selection).toBeDefined();
    expect(selection!.output).toBeUndefined();
  });
});

function io(isTty: boolean): CliIo & { text: () => string } {
  let out = '';
  return { out: (t) => void (out += t), err: () => undefined, isTty, env: {}, text: () => out };
}

function job(status: Job['status'], disks: { file: string; done: number; size: number; state: 'pending' | 'transferring' | 'done' }[]): Job {
  const total = disks.reduce((n, d) => n + d.size, 0);
  const done = disks.reduce((n, d) => n + d.done, 0);
  return {
    definition: { id: 'j1', name: 'vm', vm_path: '/DC0/vm/vm', output_path: '/o', output_dir: '/o', format: 'ovf', export_method: '', method: 'auto', provider: 'vsphere', options: { parallel_downloads: 2, remove_cdrom: false, snapshot: false, power_off: false, shutdown_timeout_seconds: 60 }, created_at: '' },
    status,
    progress: {
      phase: status === 'running' ? 'transferring' : status,
      current_file: '',
      files_downloaded: disks.filter((d) => d.state === 'done').length,
      total_files: disks.length,
      bytes_downloaded: done,
      bytes_transferred: done,
      total_bytes: total,
      percent_complete: total ? (done / total) * 100 : 0,
      speed_mbps: 0,
      transfer_rate_mbps: 0,
      elapsed_seconds: 0,
      estimated_remaining: '',
      disks: disks.map((d, i) => ({ key: 2000 + i, file: d.file, state: d.state, bytes_done: d.done, size_bytes: d.size, attempts: 1 })),
    },
    started_at: '',
    updated_at: '',
  };
}

describe('progress display', () => {
  it('keeps a steady rate between heartbeats and reports a stall', () => {
    const rates = new RateWindow(20_000);
    expect(rates.observe('d', 0, 0)).toBeUndefined();
    expect(rates.observe('d', 0, 1_000)).toBeUndefined();
    expect(rates.observe('d', 50 * MiB, 5_000)).toBe(10 * MiB);
    expect(rates.observe('d', 50 * MiB, 7_000)).toBe(10 * MiB); // no new heartbeat yet: same rate
    expect(rates.observe('d', 100 * MiB, 10_000)).toBe(10 * MiB);
    expect(rates.observe('d', 100 * MiB, 40_000)).toBe(0);
    expect(formatEta(75)).toBe('1m15s');
    expect(formatEta(3 * 3600 + 120)).toBe('3h02m');
  });

  it('draws one bar per disk with rate and ETA on a terminal, redrawn in place', () => {
    let now = 0;
    const tty = io(true);
    const display = new ProgressDisplay(tty, { now: () => now, columns: 200 });
    const tracked = [{ id: 'j1', vmPath: '/DC0/vm/vm', job: job('running', [{ file: 'vm-disk1.vmdk', done: 0, size: 100 * MiB, state: 'transferring' }, { file: 'vm-disk2.vmdk', done: 0, size: 100 * MiB, state: 'pending' }]) }];
    display.update(tracked);
    now = 5_000;
    tracked[0]!.job = job('running', [{ file: 'vm-disk1.vmdk', done: 50 * MiB, size: 100 * MiB, state: 'transferring' }, { file: 'vm-disk2.vmdk', done: 0, size: 100 * MiB, state: 'pending' }]);
    const frame = display.frame(tracked);
    expect(frame).toHaveLength(4); // header, two disks, total
    expect(frame[1]).toContain('vm-disk1.vmdk');
    expect(frame[1]).toContain('50.0%');
    expect(frame[1]).toContain('10.0 MiB/s ETA 5s');
    display.update(tracked);
    expect(tty.text()).toContain(`${ESC}[4F`);
  });

  it('prints plain lines without escape codes, at most one per interval unless the state changes', () => {
    let now = 0;
    const plain = io(false);
    const display = new ProgressDisplay(plain, { now: () => now, lineIntervalMs: 5_000 });
    const running = (done: number) => [{ id: 'j1', vmPath: '/DC0/vm/vm', job: job('running', [{ file: 'd1', done, size: 100 * MiB, state: 'transferring' }]) }];
    display.update(running(0));
    now = 1_000;
    display.update(running(10 * MiB)); // too soon
    now = 6_000;
    display.update(running(60 * MiB));
    now = 7_000;
    display.update([{ id: 'j1', vmPath: '/DC0/vm/vm', job: job('completed', [{ file: 'd1', done: 100 * MiB, size: 100 * MiB, state: 'done' }]) }]);
    const lines = plain.text().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/running phase=transferring 60\.0% .* eta=/);
    expect(lines[2]).toContain('completed');
    expect(plain.text()).not.toContain(ESC);
  });
});

describe('export plan', () => {
  it('names the disks, files and what would happen to a powered-on VM', () => {
    const info: VmInfo = {
      ...vm('/DC0/vm/web 01', 'poweredOn'),
      disks: [
        { key: 2000, label: 'Hard disk 1', capacity_bytes: 4 * MiB, backing_file: '[ds] web/disk1.vmdk', datastore: 'ds' },
        { key: 2001, label: 'Hard disk 2', capacity_bytes: 6 * MiB, backing_file: '[ds] web/disk2.vmdk', datastore: 'ds' },
      ],
      cdroms: [{ key: 3000, label: 'CD/DVD drive 1' }],
    };
    const plan = planExport({ ...info, name: 'web 01' }, { format: 'ova', method: 'auto', snapshot: false, powerOff: false, removeCdrom: true, outputDir: '/o' });
    expect(plan.files).toEqual(['web_01.ovf', 'web_01-disk1.vmdk', 'web_01-disk2.vmdk', 'web_01.mf', 'web_01.ova']);
    expect(plan.total_bytes).toBe(10 * MiB);
    expect(plan.warnings.join('\n')).toContain('add -snapshot');
    expect(plan.warnings.join('\n')).toContain('1 CD-ROM');
  });
});

describe('summary of a completed export', () => {
  it('says how each disk was read and why', () => {
    const out = io(false);
    const done = job('completed', [{ file: 'vm-disk1.vmdk', done: 1, size: 1, state: 'done' }]);
    done.result = {
      vm_name: 'vm',
      method: 'datastore',
      output_dir: '/o',
      ovf_path: '/o/vm.ovf',
      manifest_path: '/o/vm.mf',
      files: ['/o/vm-disk1.vmdk'],
      output_files: ['/o/vm-disk1.vmdk'],
      file_details: [{ name: 'vm-disk1.vmdk', path: '/o/vm-disk1.vmdk', size: 1, sha256: 'ab' }],
      total_size: 1,
      duration: 1_000_000_000,
      duration_seconds: 1,
      success: true,
      export_method: 'datastore',
      disks: [{ key: 2000, file: 'vm-disk1.vmdk', method: 'datastore', reason: 'resumable' }],
    };
    summarise({ exports: [{ vmPath: '/DC0/vm/vm', id: 'j1', job: done }], submitErrors: [], interrupted: false }, out);
    expect(out.text()).toContain('    vm-disk1.vmdk: datastore (resumable)\n');
    // Seconds, not the nanoseconds of result.duration.
    expect(out.text()).toContain(', 1s, method datastore');
  });
});
