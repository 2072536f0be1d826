// Query, get, progress and cancel against real workflows: without a worker they
// stay pending; the stub worker drives them to running, completed, failed and
// cancelled so every status and shape is seen.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as schemas from '../../src/api/schemas.js';
import { jobSchema } from '../../src/jobs/job-schemas.js';
import { createTestGateway, eventually, json, startStubWorker, type TestGateway } from './helpers.js';

interface Job {
  definition: { id: string; name: string; vm_path: string; output_path: string; options: Record<string, unknown> };
  status: string;
  progress?: Record<string, unknown> & { disks: unknown[] };
  result?: Record<string, unknown> & { files: string[] };
  error?: string;
  error_type?: string;
  started_at: string;
  completed_at?: string;
  updated_at: string;
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await createTestGateway();
});
afterAll(async () => gw?.close());

/** The answer has the shape /openapi.json documents (its zod schema). */
function conforms(schema: z.ZodType, body: unknown): void {
  const parsed = schema.safeParse(body);
  expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
}

async function submitOne(body: Record<string, unknown>): Promise<string> {
  const res = await gw.request('/jobs/submit', json(body));
  expect(res.status).toBe(200);
  return ((await res.json()) as { job_ids: string[] }).job_ids[0]!;
}

async function getJob(id: string): Promise<{ status: number; job: Job }> {
  const res = await gw.request(`/jobs/${id}`);
  return { status: res.status, job: (await res.json()) as Job };
}

describe('jobs without a worker', () => {
  it('GET /jobs/{id} shows a pending job with the contract shape', async () => {
    const id = await submitOne({ name: 'pending-one', vm_path: '/DC0/vm/p1', output_path: 'p1', options: { remove_cdrom: true } });
    const { status, job } = await getJob(id);
    expect(status).toBe(200);
    expect(job.status).toBe('pending');
    expect(job.definition).toMatchObject({ id, name: 'pending-one', vm_path: '/DC0/vm/p1', output_path: 'p1', options: { remove_cdrom: true } });
    expect(job.progress).toMatchObject({ phase: 'pending', bytes_downloaded: 0, total_files: 0, disks: [] });
    expect(Date.parse(job.started_at)).not.toBeNaN();
    expect(job.updated_at).toBeTypeOf('string');
    expect(job.completed_at).toBeUndefined();
  });

  it('POST and GET /jobs/query find jobs by id, status and all; lists are never null', async () => {
    const a = await submitOne({ vm_path: '/DC0/vm/qa' });
    const b = await submitOne({ vm_path: '/DC0/vm/qb' });
    const byIdRes = await gw.request('/jobs/query', json({ job_ids: [a, 'no-such-job'] }));
    expect(byIdRes.headers.get('content-type')).toMatch(/^application\/json/);
    const byId = (await byIdRes.json()) as { jobs: Job[]; total: number; timestamp: string };
    expect(Object.keys(byId)).toEqual(['jobs', 'total', 'timestamp']);
    expect(Number.isNaN(Date.parse(byId.timestamp))).toBe(false);
    expect(byId.jobs.map((j) => j.definition.id)).toEqual([a]);
    expect(byId.total).toBe(1);
    const all = await eventually(async () => {
      const r = (await (await gw.request('/jobs/query', json({ all: true }))).json()) as { jobs: Job[] };
      const ids = r.jobs.map((j) => j.definition.id);
      return ids.includes(a) && ids.includes(b) ? r : undefined;
    });
    expect(all.jobs.every((j) => j.status === 'pending')).toBe(true);
    // The Python SDK's list_jobs().
    const listed = (await (await gw.request('/jobs/query?all=true')).json()) as { jobs: Job[]; total: number };
    expect(listed.jobs.map((j) => j.definition.id)).toEqual(expect.arrayContaining([a, b]));
    expect(listed.total).toBe(listed.jobs.length);
    const get = (await (await gw.request(`/jobs/query?job_ids=${a},${b}&status=pending`)).json()) as { jobs: Job[] };
    expect(get.jobs).toHaveLength(2);
    // The serialised list is reused only for the very same job views: a different answer is never stale.
    const onlyB = (await (await gw.request('/jobs/query', json({ job_ids: [b] }))).json()) as { jobs: Job[]; total: number };
    expect([onlyB.jobs.map((j) => j.definition.id), onlyB.total]).toEqual([[b], 1]);
    const none = (await (await gw.request('/jobs/query', json({ status: ['completed'] }))).json()) as { jobs: unknown; total: number };
    expect(none.jobs).toEqual([]);
    expect(none.total).toBe(0);
  });

  it('refuses an unknown status and wrong types, and 404s unknown jobs', async () => {
    const bad = await gw.request('/jobs/query', json({ status: 'done' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^status: /);
    const wrongType = await gw.request('/jobs/query', json({ all: 'yes' }));
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { error: string }).error).toMatch(/^all: /);
    expect((await gw.request('/jobs/no-such-job')).status).toBe(404);
    expect((await gw.request('/jobs/progress/no-such-job')).status).toBe(404);
    const cancel = (await (await gw.request('/jobs/cancel', json({ job_ids: ['no-such-job'] }))).json()) as { cancelled: string[]; failed: string[]; errors: Record<string, string> };
    expect(cancel).toMatchObject({ cancelled: [], failed: ['no-such-job'] });
    // A map by job id, as the original's clients index it.
    expect(cancel.errors['no-such-job']).toContain('not found');
    const odd = (await (await gw.request('/jobs/cancel', json({ job_ids: ['__proto__'] }))).json()) as { errors: Record<string, string> };
    expect(Object.keys(odd.errors)).toEqual(['__proto__']);
    for (const route of ['eta', 'logs']) {
      const missing = await gw.request(`/jobs/${route}/no-such-job`);
      expect(missing.status, route).toBe(404);
      expect(((await missing.json()) as { error: string }).error).toBe('job no-such-job not found');
      expect((await gw.request(`/jobs/${route}/..%2Fetc`)).status, route).toBe(404);
    }
  });

  it('GET /jobs/progress/{id} has the progress keys at the top level too (the Python SDK reads phase there)', async () => {
    const id = await submitOne({ vm_path: '/DC0/vm/progress-top' });
    const body = (await (await gw.request(`/jobs/progress/${id}`)).json()) as Record<string, unknown> & { progress: Record<string, unknown> };
    expect(body).toMatchObject({ job_id: id, status: 'pending', phase: 'pending', bytes_transferred: 0, transfer_rate_mbps: 0 });
    for (const key of Object.keys(body.progress)) expect(body, key).toHaveProperty(key);
    expect(body.elapsed_seconds).toBeTypeOf('number');
    expect(Date.parse(body.started_at as string)).not.toBeNaN();
    const eta = (await (await gw.request(`/jobs/eta/${id}`)).json()) as Record<string, unknown>;
    expect(eta).toMatchObject({ job_id: id, status: 'pending', estimated_remaining: '', eta: { message: expect.stringContaining('not started') as unknown } });
  });

  it('GET /jobs/logs/{id} merges history and the worker\'s log book by time; ?tail=N keeps the last N', async () => {
    const id = await submitOne({ vm_path: '/DC0/vm/logs-one', vcenter_url: 'https://vcenter.invalid/sdk', username: 'u', password: 'logs-secret-pw' });
    const started = (await getJob(id)).job.started_at;
    const book = join(gw.config.daemon.dataDir, 'job-logs');
    mkdirSync(book, { recursive: true });
    const later = new Date(Date.parse(started) + 60_000).toISOString();
    const earlier = new Date(Date.parse(started) - 60_000).toISOString();
    writeFileSync(
      join(book, `${id}.jsonl`),
      [{ timestamp: later, level: 'warn', message: 'worker said later', details: { disk: 'd1' } }, { timestamp: earlier, level: 'info', message: 'worker said earlier' }]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    const res = await gw.request(`/jobs/logs/${id}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain('logs-secret-pw');
    expect(text).not.toContain('sealedCredentials');
    const body = JSON.parse(text) as { job_id: string; logs: { timestamp: string; level: string; message: string; source: string; details?: unknown }[]; log_count: number };
    expect(body.job_id).toBe(id);
    expect(body.logs.map((l) => [l.source, l.message])).toEqual([
      ['worker', 'worker said earlier'],
      ['history', 'export workflow started'],
      ['worker', 'worker said later'],
    ]);
    expect(body.log_count).toBe(3);
    expect(body.logs[2]).toEqual({ timestamp: later, level: 'warn', message: 'worker said later', details: { disk: 'd1' }, source: 'worker' });
    const tail = (await (await gw.request(`/jobs/logs/${id}?tail=1`)).json()) as { logs: { message: string }[]; log_count: number };
    expect([tail.logs.map((l) => l.message), tail.log_count]).toEqual([['worker said later'], 1]);
    for (const bad of ['0', '-1', 'x', '1.5']) {
      const refused = await gw.request(`/jobs/logs/${id}?tail=${bad}`);
      expect(refused.status, bad).toBe(400);
      expect(((await refused.json()) as { error: string; field: string }).field).toBe('tail');
    }
  });

  it('GET /capabilities lists the built-in methods and the default, in the original shape', async () => {
    const body = (await (await gw.request('/capabilities')).json()) as { capabilities: Record<string, Record<string, unknown>>; default_method: string; timestamp: string };
    expect(Object.keys(body.capabilities).sort()).toEqual(['datastore', 'ovf']);
    for (const [method, capability] of Object.entries(body.capabilities)) {
      expect(capability).toMatchObject({ method, available: true, version: expect.any(String) as unknown, path: expect.any(String) as unknown, priority: expect.any(Number) as unknown });
      expect(Date.parse(capability.last_checked as string)).not.toBeNaN();
    }
    expect(body.default_method).toBe(gw.config.defaults.method);
  });

  it('the new routes are in /openapi.json', async () => {
    const doc = (await (await gw.request('/openapi.json')).json()) as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    for (const path of ['/capabilities', '/jobs/eta/{id}', '/jobs/logs/{id}']) expect(doc.paths[path]?.get, path).toBeDefined();
    expect(doc.paths['/jobs/logs/{id}']!.get!.parameters!.map((p) => p.name)).toEqual(['id', 'tail']);
  });

  it('GET /status counts this gateway’s jobs', async () => {
    const res = await gw.request('/status');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ version: expect.any(String) as unknown, temporal: { reachable: true } });
    expect(body.total_jobs).toBeGreaterThan(0);
    expect(body.running_jobs).toBe(body.total_jobs);
    for (const k of ['uptime', 'completed_jobs', 'failed_jobs', 'cancelled_jobs']) expect(body).toHaveProperty(k);
  });
});

describe('jobs driven by a stub worker', () => {
  let worker: { stop(): Promise<void> } | undefined;
  beforeAll(async () => {
    worker = await startStubWorker(gw.config);
  });
  afterAll(async () => worker?.stop());

  it('a completed job carries its result and 100% progress', async () => {
    const id = await submitOne({ vm_path: '/DC0/vm/complete-me', output_path: 'done-dir' });
    const job = await eventually(async () => {
      const { job } = await getJob(id);
      return job.status === 'completed' ? job : undefined;
    });
    expect(job.result).toMatchObject({
      vm_name: 'complete-me',
      method: 'datastore',
      total_size: 4196,
      // Go's time.Duration: integer nanoseconds; our CLIs read duration_seconds.
      duration: 1_500_000_000,
      duration_seconds: 1.5,
      success: true,
      export_method: 'datastore',
    });
    expect(job.result!.output_files).toEqual(job.result!.files);
    conforms(jobSchema, job);
    conforms(schemas.progressResponseSchema, await (await gw.request(`/jobs/progress/${id}`)).json());
    conforms(schemas.etaResponseSchema, await (await gw.request(`/jobs/eta/${id}`)).json());
    conforms(schemas.logsResponseSchema, await (await gw.request(`/jobs/logs/${id}`)).json());
    conforms(schemas.capabilitiesResponseSchema, await (await gw.request('/capabilities')).json());
    expect(job.result!.files[0]).toMatch(/done-dir\/vm\.ovf$/);
    expect(job.progress).toMatchObject({ phase: 'completed', percent_complete: 100 });
    expect(job.completed_at).toBeTypeOf('string');
    const counted = (await (await gw.request('/jobs/query', json({ status: 'completed' }))).json()) as { jobs: Job[] };
    expect(counted.jobs.map((j) => j.definition.id)).toContain(id);
  });

  it('a failed job carries the error type and message', async () => {
    const id = await submitOne({ vm_path: '/DC0/vm/fail-me' });
    const job = await eventually(async () => {
      const { job } = await getJob(id);
      return job.status === 'failed' ? job : undefined;
    });
    expect(job.error_type).toBe('VmNotFound');
    expect(job.error).toContain('/DC0/vm/fail-me');
    expect(job.result).toBeUndefined();
  });

  it('a running job shows live heartbeat bytes, and cancel stops it', async () => {
    const id = await submitOne({ vm_path: '/DC0/vm/transfer-me' });
    const progress = await eventually(async () => {
      const res = await gw.request(`/jobs/progress/${id}`);
      const body = (await res.json()) as { status: string; progress: Record<string, unknown> };
      return body.status === 'running' && body.progress.bytes_downloaded === 2048 + 1024 ? body : undefined;
    });
    expect(progress.progress).toMatchObject({
      phase: 'transferring',
      current_file: 'vm-disk-0.vmdk',
      files_downloaded: 1,
      total_files: 2,
      total_bytes: 5120,
      percent_complete: 60,
    });
    // The original's clients read these from the top level of the answer.
    expect(progress).toMatchObject({ phase: 'transferring', bytes_transferred: 3072, percent_complete: 60, export_method: 'datastore' });
    expect(progress).toHaveProperty('transfer_rate_mbps');
    expect(progress).toHaveProperty('elapsed_seconds');
    expect(progress).toHaveProperty('started_at');
    const eta = (await (await gw.request(`/jobs/eta/${id}`)).json()) as { status: string; estimated_remaining: string; eta: Record<string, unknown> };
    expect(eta.status).toBe('running');
    expect(eta.estimated_remaining).toMatch(/^(\d+[hms])+$|^$/);
    expect(eta.eta).toHaveProperty('elapsed_seconds');
    conforms(schemas.etaResponseSchema, eta);
    conforms(schemas.progressResponseSchema, progress);
    conforms(jobSchema, (await getJob(id)).job);
    const res = await gw.request('/jobs/cancel', json({ job_ids: [id] }));
    const cancelled = (await res.json()) as Record<string, unknown>;
    expect(cancelled).toMatchObject({ cancelled: [id], failed: [] });
    expect(cancelled).not.toHaveProperty('errors');
    conforms(schemas.cancelResponseSchema, cancelled);
    const job = await eventually(async () => {
      const { job } = await getJob(id);
      return job.status === 'cancelled' ? job : undefined;
    });
    expect(job.completed_at).toBeTypeOf('string');
    const again = (await (await gw.request('/jobs/cancel', json({ job_ids: [id] }))).json()) as { failed: string[]; errors: Record<string, string> };
    expect(again.failed).toEqual([id]);
    expect(again.errors[id]).toContain('not running');
    const logs = (await (await gw.request(`/jobs/logs/${id}`)).json()) as { logs: { message: string; source: string }[] };
    expect(logs.logs.map((l) => l.message)).toEqual(expect.arrayContaining(['export workflow started', 'stubTransfer started', 'cancellation of the job requested', 'job cancelled']));
  });
});
