// Drop-in judge for the job routes: a real hypervisord (gateway + worker) exporting
// from vcsim, driven with the bodies the original Python SDK sends, every answer
// checked against what the original's Go structs and Python SDK accept
// (original-schemas.ts). vCenter is reached through toxiproxy so a bandwidth limit
// can hold an export in "running" long enough to look at it.
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestVm } from '../export/helpers.js';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { diskLocalPath, vmDisks } from '../harness/vcsim-disks.js';
import { startDaemon, type Daemon } from '../e2e/daemon.js';
import { createProxy, type Proxy } from '../harness/toxiproxy.js';
import { api, goDurationSeconds, vmdkHashes, waitFor } from './helpers.js';
import {
  cancelResponse,
  capabilities,
  daemonStatus,
  etaResponse,
  expectShape,
  health,
  job,
  logsResponse,
  progressResponse,
  queryResponse,
  submitResponse,
  type OriginalJob,
} from './original-schemas.js';

const services = inject('services');
const MiB = 1024 * 1024;
const hex = () => randomBytes(3).toString('hex');
let daemon: Daemon;
let proxy: Proxy;

beforeAll(async () => {
  proxy = await createProxy(services.toxiproxy.apiUrl, `compat-${hex()}`, services.vcsim.host);
  daemon = await startDaemon(services, '', { GOVC_URL: `https://${proxy.listen}/sdk` });
});
afterAll(async () => {
  await daemon?.stop();
  await proxy?.remove();
});

/** JobDefinition(vm_path=..., name=..., output_dir=...).to_dict() of the original Python SDK, export_method "" included. */
function pythonSdkBody(vmPath: string, name: string, outputDir: string): Record<string, unknown> {
  return {
    vm_path: vmPath,
    name,
    output_dir: outputDir,
    format: 'ovf',
    export_method: '',
    compress: false,
    thin: false,
    insecure: false,
    options: {
      parallel_downloads: 4,
      remove_cdrom: false,
      show_individual_progress: false,
      enable_pipeline: false,
      pipeline_inspect: false,
      pipeline_fix: false,
      pipeline_convert: false,
      pipeline_validate: false,
      pipeline_compress: false,
      compress_level: 6,
      libvirt_integration: false,
      libvirt_autostart: false,
    },
  };
}

async function getJob(id: string): Promise<OriginalJob> {
  const res = await api(daemon.url, 'GET', `/jobs/${id}`);
  expect(res.status, res.text).toBe(200);
  return expectShape(job, res.body, `GET /jobs/${id}`);
}

async function submitOne(body: unknown): Promise<string> {
  const res = await api(daemon.url, 'POST', '/jobs/submit', body);
  expect(res.status, res.text).toBe(200);
  const answer = expectShape(submitResponse, res.body, 'POST /jobs/submit');
  expect(answer.accepted, res.text).toBe(1);
  return answer.job_ids[0]!;
}

/** Waits on the status alone (so a shape problem is reported where it is checked, not here), then checks the shape. */
async function waitForStatus(id: string, statuses: string[], timeoutMs = 90_000): Promise<OriginalJob> {
  await waitFor(
    `job ${id} to be ${statuses.join('|')}`,
    async () => {
      const res = await api(daemon.url, 'GET', `/jobs/${id}`);
      const status = (res.body as { status?: unknown } | undefined)?.status;
      return typeof status === 'string' && statuses.includes(status) ? status : undefined;
    },
    timeoutMs,
  );
  return getJob(id);
}

/** Both query forms the SDK uses, each checked with Job.from_dict's rules; returns the job as POST /jobs/query shows it. */
async function queryBothWays(id: string): Promise<OriginalJob> {
  const post = await api(daemon.url, 'POST', '/jobs/query', { job_ids: [id] });
  expect(post.status, post.text).toBe(200);
  const byId = expectShape(queryResponse, post.body, 'POST /jobs/query {job_ids}');
  expect(byId.jobs.map((j) => j.definition.id)).toEqual([id]);

  const all = await api(daemon.url, 'GET', '/jobs/query?all=true');
  expect(all.status, all.text).toBe(200);
  const listed = expectShape(queryResponse, all.body, 'GET /jobs/query?all=true');
  expect(listed.jobs.map((j) => j.definition.id)).toContain(id);

  const postAll = await api(daemon.url, 'POST', '/jobs/query', { all: true });
  expect(postAll.status, postAll.text).toBe(200);
  expect(
    expectShape(queryResponse, postAll.body, 'POST /jobs/query {all}').jobs.map((j) => j.definition.id),
  ).toContain(id);
  return byId.jobs[0]!;
}

describe('daemon routes in the original shapes', () => {
  it('health, status and capabilities', async () => {
    const h = await api(daemon.url, 'GET', '/health');
    expect(h.status, h.text).toBe(200);
    expectShape(health, h.body, 'GET /health');

    const s = await api(daemon.url, 'GET', '/status');
    expect(s.status, s.text).toBe(200);
    expectShape(daemonStatus, s.body, 'GET /status');

    const c = await api(daemon.url, 'GET', '/capabilities');
    expect(c.status, c.text).toBe(200);
    const caps = expectShape(capabilities, c.body, 'GET /capabilities');
    expect(Object.keys(caps.capabilities).length).toBeGreaterThan(0);
    for (const [key, cap] of Object.entries(caps.capabilities)) expect(cap.method, key).toBe(key);
  });
});

describe('one export seen the way the Python SDK sees it', () => {
  const name = `compat-${hex()}`;
  let vm: { path: string; hashes: Map<number, string> };
  let output: string;
  let id: string;

  it('accepts the SDK default body and shows the job, query, progress and ETA while it runs', async () => {
    vm = await createTestVm(services, name, { disks: 1, sizeBytes: 32 * MiB, poweredOn: false });
    output = join(daemon.exportRoot, name);
    // ~1 MiB/s: a 32 MiB disk takes long enough to be looked at while running (the
    // toxic goes when the looking is done, and the rest of the export runs at full speed).
    await proxy.addToxic({ name: 'slow', type: 'bandwidth', attributes: { rate: 1024 } });
    try {
      id = await submitOne(pythonSdkBody(vm.path, name, output));

      const running = await waitFor('bytes moving in a running job', async () => {
        const j = await getJob(id);
        if (j.status === 'completed' || j.status === 'failed')
          throw new Error(`job ended before it was seen running: ${JSON.stringify(j)}`);
        return j.status === 'running' && (j.progress?.bytes_downloaded ?? 0) > 0 ? j : undefined;
      });
      expect(running.definition.export_method).toBe('');
      expect(running.definition.format).toBe('ovf');
      expect(running.definition.output_dir).toBe(output);
      expect(running.started_at).toBeTruthy();

      const queried = await queryBothWays(id);
      expect(queried.status).toBe('running');

      // A live rate needs two samples of the transfer: both answers are checked at
      // every poll, and the poll ends once both show the rate (bounded).
      const { progress, eta } = await waitFor(
        'a live rate in progress and ETA',
        async () => {
          const p = await api(daemon.url, 'GET', `/jobs/progress/${id}`);
          expect(p.status, p.text).toBe(200);
          const progressNow = expectShape(progressResponse, p.body, `GET /jobs/progress/${id} (running)`);
          const e = await api(daemon.url, 'GET', `/jobs/eta/${id}`);
          expect(e.status, e.text).toBe(200);
          const etaNow = expectShape(etaResponse, e.body, `GET /jobs/eta/${id} (running)`);
          if (progressNow.status !== 'running' || etaNow.status !== 'running')
            throw new Error(`job left running: ${p.text}`);
          return progressNow.transfer_rate_mbps > 0 && etaNow.estimated_remaining !== ''
            ? { progress: progressNow, eta: etaNow }
            : undefined;
        },
        20_000,
      );
      expect(progress.phase).toBe(progress.progress.phase);
      expect(progress.bytes_transferred).toBe(progress.bytes_downloaded);
      expect(progress.total_bytes).toBeGreaterThanOrEqual(32 * MiB);
      // The throttle is ~1 MiB/s: a rate in MiB/s lies well under 8.
      expect(progress.transfer_rate_mbps).toBeLessThan(8);
      expect('time_remaining' in eta.eta, JSON.stringify(eta.eta)).toBe(true);
      const remaining = goDurationSeconds(eta.estimated_remaining);
      expect(remaining).toBeGreaterThan(0);
      expect(remaining).toBeLessThan(120);
    } finally {
      await proxy.removeToxic('slow');
    }
  });

  it('completes with the files of the VM, a result Python can read and a duration in nanoseconds', async () => {
    expect(id, 'the job of the test before was accepted').toBeDefined();
    const done = await waitForStatus(id, ['completed', 'failed', 'cancelled']);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(await vmdkHashes(output)).toEqual([...vm.hashes.values()].sort());

    const result = done.result!;
    expect(result, 'a completed job has a result').toBeTruthy();
    expect(result.success).toBe(true);
    expect(result.output_files ?? []).toEqual(result.files ?? []);
    const files = result.files ?? [];
    expect(files.length).toBeGreaterThan(0);
    const onDisk = files.reduce((sum, f) => sum + statSync(f.startsWith('/') ? f : join(output, f)).size, 0);
    expect(result.total_size).toBe(onDisk);

    // time.Duration is nanoseconds: it must agree with the job's own clock, which
    // a number of milliseconds or seconds would not.
    const wallSeconds = (Date.parse(done.completed_at!) - Date.parse(done.started_at!)) / 1000;
    const seconds = result.duration / 1e9;
    expect(seconds).toBeGreaterThan(1); // throttled for several seconds
    expect(seconds).toBeLessThanOrEqual(wallSeconds + 2);
    const durationSeconds = (result as Record<string, unknown>).duration_seconds;
    expect(typeof durationSeconds).toBe('number');
    expect(Math.abs((durationSeconds as number) - seconds)).toBeLessThan(0.01);
    expect(['ovf', 'datastore']).toContain(result.export_method);

    const queried = await queryBothWays(id);
    expect(queried.status).toBe('completed');
    expect(queried.result?.duration).toBe(result.duration);

    const p = await api(daemon.url, 'GET', `/jobs/progress/${id}`);
    expect(p.status, p.text).toBe(200);
    const progress = expectShape(progressResponse, p.body, `GET /jobs/progress/${id} (completed)`);
    expect(progress.status).toBe('completed');
    expect(progress.completed_at).toBeTruthy();

    const e = await api(daemon.url, 'GET', `/jobs/eta/${id}`);
    expect(e.status, e.text).toBe(200);
    const eta = expectShape(etaResponse, e.body, `GET /jobs/eta/${id} (completed)`);
    expect('message' in eta.eta, JSON.stringify(eta.eta)).toBe(true);
  });

  it('has logs from the workflow history and from the worker, and ?tail keeps the last lines', async () => {
    expect(id, 'the job of the test before was accepted').toBeDefined();
    const l = await api(daemon.url, 'GET', `/jobs/logs/${id}`);
    expect(l.status, l.text).toBe(200);
    const logs = expectShape(logsResponse, l.body, `GET /jobs/logs/${id}`);
    expect(logs.job_id).toBe(id);
    const sources = new Set(logs.logs.map((line) => line.source));
    expect([...sources].sort()).toEqual(['history', 'worker']);
    expect(
      logs.logs.some((line) => /complet/i.test(line.message)),
      l.text,
    ).toBe(true);

    const t = await api(daemon.url, 'GET', `/jobs/logs/${id}?tail=2`);
    expect(t.status, t.text).toBe(200);
    const tail = expectShape(logsResponse, t.body, `GET /jobs/logs/${id}?tail=2`);
    expect(tail.logs).toEqual(logs.logs.slice(-2));
  });
});

describe('cancel', () => {
  it('cancels a running job and reports an unknown one in the errors map', async () => {
    const name = `cancel-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 32 * MiB, poweredOn: false });
    await proxy.addToxic({ name: 'slow', type: 'bandwidth', attributes: { rate: 1024 } });
    try {
      const id = await submitOne(pythonSdkBody(vm.path, name, join(daemon.exportRoot, name)));
      await waitForStatus(id, ['running']);
      const unknown = `no-such-job-${hex()}`;
      const c = await api(daemon.url, 'POST', '/jobs/cancel', { job_ids: [id, unknown] });
      expect(c.status, c.text).toBe(200);
      const answer = expectShape(cancelResponse, c.body, 'POST /jobs/cancel');
      expect(answer.cancelled).toEqual([id]);
      expect(answer.failed).toEqual([unknown]);
      expect(Object.keys(answer.errors ?? {})).toEqual([unknown]);
      const ended = await waitForStatus(id, ['cancelled', 'completed', 'failed'], 30_000);
      expect(ended.status).toBe('cancelled');
    } finally {
      await proxy.removeToxic('slow');
    }
  });
});

describe('submit forms', () => {
  it('takes a list with one job the daemon cannot run: 200, the other accepted (the SDK asks qcow2: a KVM-ready image), the refusal named', async () => {
    const name = `batch-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: false });
    const qcow2 = { ...pythonSdkBody(vm.path, `${name}-a`, join(daemon.exportRoot, `${name}-a`)), format: 'qcow2' };
    const outside = pythonSdkBody(vm.path, `${name}-b`, `/etc/${name}-b`);
    const res = await api(daemon.url, 'POST', '/jobs/submit', [qcow2, outside]);
    expect(res.status, res.text).toBe(200);
    const answer = expectShape(submitResponse, res.body, 'POST /jobs/submit [list]');
    expect([answer.accepted, answer.rejected]).toEqual([1, 1]);
    expect(answer.errors?.join('\n')).toMatch(/output/);
    const done = await waitForStatus(answer.job_ids[0]!, ['completed', 'failed', 'cancelled']);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    // qemu-img, not the product, says the image holds the disk.
    const image = join(daemon.exportRoot, `${name}-a`, `${name}-disk1.qcow2`);
    const disk = await diskLocalPath(services, (await vmDisks(services, name))[0]!.backingFile);
    await expectValidCopy(image, disk, 16 * MiB);
  });

  it('answers 200 with accepted 0 and the reasons when a {jobs} batch has nothing it can run', async () => {
    const jobs = ['a', 'b'].map((n) => ({
      vm_path: '/DC0/vm/DC0_H0_VM0',
      output_dir: `/etc/none-${n}`,
      format: 'qcow2',
    }));
    const res = await api(daemon.url, 'POST', '/jobs/submit', { jobs });
    expect(res.status, res.text).toBe(200);
    const answer = expectShape(submitResponse, res.body, 'POST /jobs/submit {jobs}');
    expect([answer.accepted, answer.rejected, answer.job_ids]).toEqual([0, 2, []]);
    expect(answer.errors).toHaveLength(2);
    expect(answer.errors![0]).toMatch(/output/);
    expect(answer.errors![1]).toMatch(/output/);
  });

  it('accepts the original vocabulary (export_method govc, format vmdk) with warnings naming the fields, and exports', async () => {
    const name = `vocab-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: false });
    const output = join(daemon.exportRoot, name);
    const res = await api(daemon.url, 'POST', '/jobs/submit', {
      ...pythonSdkBody(vm.path, name, output),
      export_method: 'govc',
      format: 'vmdk',
    });
    expect(res.status, res.text).toBe(200);
    const answer = expectShape(submitResponse, res.body, 'POST /jobs/submit (govc, vmdk)');
    expect(answer.accepted, res.text).toBe(1);
    const warnings = JSON.stringify((res.body as Record<string, unknown>).warnings ?? []);
    expect(warnings).toMatch(/export_method/);
    expect(warnings).toMatch(/format/);
    const done = await waitForStatus(answer.job_ids[0]!, ['completed', 'failed', 'cancelled']);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.definition.export_method, 'the value the client sent').toBe('govc');
    expect(done.definition.format, 'what is produced').toBe('ovf');
    expect(await vmdkHashes(output)).toEqual([...vm.hashes.values()].sort());
  });
});
