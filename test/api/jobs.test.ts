// Query, get, progress and cancel against real workflows: without a worker they
// stay pending; the stub worker drives them to running, completed, failed and
// cancelled so every status and shape is seen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    const cancel = (await (await gw.request('/jobs/cancel', json({ job_ids: ['no-such-job'] }))).json()) as { cancelled: string[]; failed: string[]; errors: string[] };
    expect(cancel).toMatchObject({ cancelled: [], failed: ['no-such-job'] });
    expect(cancel.errors[0]).toContain('not found');
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
    expect(job.result).toMatchObject({ vm_name: 'complete-me', method: 'datastore', total_size: 4196, duration: 1.5 });
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
    const res = await gw.request('/jobs/cancel', json({ job_ids: [id] }));
    expect(await res.json()).toMatchObject({ cancelled: [id], failed: [], errors: [] });
    const job = await eventually(async () => {
      const { job } = await getJob(id);
      return job.status === 'cancelled' ? job : undefined;
    });
    expect(job.completed_at).toBeTypeOf('string');
    const again = (await (await gw.request('/jobs/cancel', json({ job_ids: [id] }))).json()) as { failed: string[]; errors: string[] };
    expect(again.failed).toEqual([id]);
    expect(again.errors[0]).toContain('not running');
  });
});
