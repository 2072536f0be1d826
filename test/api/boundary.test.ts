// The gateway's boundary against browsers and oversized requests (issue 11):
// cross-site submits (text/plain + foreign Origin), DNS rebinding (foreign Host
// without a token), bodies that are not JSON/YAML, and per-request work caps.
// Each refusal is checked to have started nothing in Temporal.
import { WorkflowNotFoundError } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestGateway, json, type TestGateway } from './helpers.js';

const uniqueId = (label: string): string => `${label}-${randomBytes(4).toString('hex')}`;

/** True when Temporal knows no workflow with this id (nothing was started). */
async function notStarted(gw: TestGateway, id: string): Promise<boolean> {
  try {
    await gw.client.workflow.getHandle(id).describe();
    return false;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    throw err;
  }
}

const job = (id: string) => ({ id, vm_path: `/DC0/vm/${id}`, output_path: id });

async function errorOf(
  res: Response,
): Promise<{ error: string; field?: string; config_key?: string; limit?: number; timestamp: string }> {
  return (await res.json()) as {
    error: string;
    field?: string;
    config_key?: string;
    limit?: number;
    timestamp: string;
  };
}

describe('without a token (the default, loopback)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await createTestGateway();
  });
  afterAll(async () => gw?.close());

  it('refuses a browser-style cross-site submit (text/plain JSON, foreign Origin) and starts nothing', async () => {
    const id = uniqueId('csrf');
    const res = await gw.request('/jobs/submit', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Origin: 'https://evil.example', Host: 'localhost:8080' },
      body: JSON.stringify(job(id)),
    });
    expect(res.status).toBe(403);
    const body = await errorOf(res);
    expect(body.field).toBe('Origin');
    expect(body.error).toContain('https://evil.example');
    expect(body.error).toContain('daemon.allowed_origins');
    expect(body.timestamp).toEqual(expect.any(String));
    expect(await notStarted(gw, id)).toBe(true);
  });

  it('refuses a foreign Origin whatever the content type, and Origin "null"', async () => {
    for (const origin of [
      'https://evil.example',
      'http://localhost.evil.example:8080',
      'null',
      'http://127.0.0.1:9999',
    ]) {
      const id = uniqueId('origin');
      const res = await gw.request('/jobs/submit', json(job(id), { Origin: origin, Host: 'localhost:8080' }));
      expect(res.status, origin).toBe(403);
      expect(await notStarted(gw, id)).toBe(true);
    }
  });

  it('refuses a DNS-rebinding submit (Host evil.example:8080) and starts nothing', async () => {
    for (const headers of <Record<string, string>[]>[
      { Host: 'evil.example:8080' },
      { Host: 'evil.example:8080', Origin: 'http://evil.example:8080' },
      { Host: '127.0.0.1.evil.example' },
    ]) {
      const id = uniqueId('rebind');
      const res = await gw.request('/jobs/submit', json(job(id), headers));
      expect(res.status, JSON.stringify(headers)).toBe(403);
      const body = await errorOf(res);
      expect(body.field).toBe('Host');
      expect(body.error).toContain('daemon.allowed_hosts');
      expect(await notStarted(gw, id)).toBe(true);
    }
    // Reads too: a rebound page must not see the job list.
    const read = await gw.request('/jobs/query?all=true', { headers: { Host: 'evil.example:8080' } });
    expect(read.status).toBe(403);
    // An absolute request target naming another host is refused even with a loopback Host header.
    const absolute = await gw.request('http://evil.example:8080/jobs/query?all=true', {
      headers: { Host: 'localhost:8080' },
    });
    expect(absolute.status).toBe(403);
  });

  it('refuses bodies that are not JSON or YAML with 415 naming the content type, and starts nothing', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/html',
    ]) {
      const id = uniqueId('type');
      const res = await gw.request('/jobs/submit', {
        method: 'POST',
        headers: { 'Content-Type': type },
        body: JSON.stringify(job(id)),
      });
      expect(res.status, type).toBe(415);
      const body = await errorOf(res);
      expect(body.field).toBe('Content-Type');
      expect(body.error).toContain(type);
      expect(body.error).toContain('application/json');
      expect(await notStarted(gw, id)).toBe(true);
    }
    // A body without any Content-Type (what a Blob of no type sends) is refused too.
    const id = uniqueId('untyped');
    const untyped = await gw.request('/jobs/submit', {
      method: 'POST',
      body: new Blob([JSON.stringify(job(id))]),
    });
    expect(untyped.status).toBe(415);
    expect((await errorOf(untyped)).error).toContain('missing');
    expect(await notStarted(gw, id)).toBe(true);
    // Cancel and query are held to the same rule.
    expect(
      (
        await gw.request('/jobs/cancel', {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain' },
          body: '{"job_ids":["x"]}',
        })
      ).status,
    ).toBe(415);
    expect(
      (
        await gw.request('/jobs/query', {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain' },
          body: '{"all":true}',
        })
      ).status,
    ).toBe(415);
  });

  it('still serves loopback Hosts, no Origin, same-origin Origin, JSON (any charset, +json) and YAML', async () => {
    const cases: { headers: Record<string, string>; body: (id: string) => string }[] = [
      { headers: { 'Content-Type': 'application/json' }, body: (id) => JSON.stringify(job(id)) },
      {
        headers: { 'Content-Type': 'application/json; charset=utf-8', Host: 'localhost:8080' },
        body: (id) => JSON.stringify(job(id)),
      },
      {
        headers: { 'Content-Type': 'application/vnd.hypersdk+json', Host: '127.0.0.1:8080' },
        body: (id) => JSON.stringify(job(id)),
      },
      {
        headers: { 'Content-Type': 'application/json', Host: '127.1.2.3' },
        body: (id) => JSON.stringify(job(id)),
      },
      {
        headers: { 'Content-Type': 'application/json', Host: '[::1]:8080' },
        body: (id) => JSON.stringify(job(id)),
      },
      {
        headers: {
          'Content-Type': 'application/json',
          Host: 'LOCALHOST:8080',
          Origin: 'http://localhost:8080',
        },
        body: (id) => JSON.stringify(job(id)),
      },
      // What the original hyperctl sends for -file job.yaml.
      {
        headers: { 'Content-Type': 'application/x-yaml' },
        body: (id) => `id: ${id}\nvm_path: /DC0/vm/${id}\noutput_path: ${id}\n`,
      },
      {
        headers: { 'Content-Type': 'application/yaml' },
        body: (id) => `jobs:\n  - id: ${id}\n    vm_path: /DC0/vm/${id}\n    output_path: ${id}\n`,
      },
      {
        headers: { 'Content-Type': 'text/yaml; charset=utf-8' },
        body: (id) => `id: ${id}\nvm_path: /DC0/vm/${id}\noutput_path: ${id}\n`,
      },
    ];
    for (const c of cases) {
      const id = uniqueId('ok');
      const res = await gw.request('/jobs/submit', { method: 'POST', headers: c.headers, body: c.body(id) });
      expect(res.status, `${JSON.stringify(c.headers)} ${await res.clone().text()}`).toBe(200);
      expect(((await res.json()) as { job_ids: string[] }).job_ids).toEqual([id]);
      expect(await notStarted(gw, id)).toBe(false);
    }
  });

  it('keeps POSTs without a body and without a Content-Type working (SDKs send those)', async () => {
    const res = await gw.request('/jobs/query', { method: 'POST', headers: { Host: 'localhost:8080' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      jobs: expect.any(Array) as unknown,
      total: expect.any(Number) as unknown,
    });
    // An empty body labelled otherwise (undici labels '' text/plain) carries nothing: the route answers.
    const empty = await gw.request('/jobs/submit', { method: 'POST', body: '' });
    expect(empty.status).toBe(400);
    expect((await errorOf(empty)).error).toMatch(/body: empty/);
    // Go's http.Client sends no Content-Type with a nil body.
    const cancel = await gw.request('/jobs/cancel', { method: 'POST' });
    expect(cancel.status).toBe(400);
    expect((await errorOf(cancel)).field).toBe('job_ids');
  });

  it('caps the jobs of one submit (413 naming daemon.max_jobs_per_submit) before starting any', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `cap-${randomBytes(3).toString('hex')}-${i}`);
    const res = await gw.request('/jobs/submit', json({ jobs: ids.map(job) }));
    expect(res.status).toBe(413);
    const body = await errorOf(res);
    expect(body).toMatchObject({ field: 'jobs', limit: 100, config_key: 'daemon.max_jobs_per_submit' });
    expect(body.error).toContain('101');
    expect(body.error).toContain('daemon.max_jobs_per_submit');
    expect(await notStarted(gw, ids[0]!)).toBe(true);
    expect(await notStarted(gw, ids[100]!)).toBe(true);
    // A bare array is held to the same cap.
    expect((await gw.request('/jobs/submit', json(ids.map(job)))).status).toBe(413);
  });

  it('caps the ids of one query or cancel (400 naming daemon.max_ids_per_query), quickly', async () => {
    const ids = Array.from({ length: 90_000 }, (_, i) => `q-${i}`);
    const started = Date.now();
    for (const [path, init] of [
      ['/jobs/query', json({ job_ids: ids })],
      ['/jobs/cancel', json({ job_ids: ids })],
      [`/jobs/query?job_ids=${ids.slice(0, 1001).join(',')}`, { method: 'GET' }],
    ] as const) {
      const res = await gw.request(path, init);
      expect(res.status, path.slice(0, 30)).toBe(400);
      const body = await errorOf(res);
      expect(body).toMatchObject({ field: 'job_ids', limit: 1000, config_key: 'daemon.max_ids_per_query' });
      expect(body.error).toContain('daemon.max_ids_per_query');
    }
    // Refused before any Temporal call: 90,000 describes would take minutes.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('/openapi.json', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await createTestGateway();
  });
  afterAll(async () => gw?.close());

  it('documents the 403 of the boundary on every route and the 415 where a body is taken', async () => {
    const doc = (await (await gw.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(Object.keys(doc.paths['/jobs/submit']!.post!.responses)).toEqual(
      expect.arrayContaining(['403', '413', '415']),
    );
    expect(Object.keys(doc.paths['/jobs/query']!.get!.responses)).toContain('403');
    expect(Object.keys(doc.paths['/jobs/query']!.get!.responses)).not.toContain('415');
  });
});

describe('configured allowances', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await createTestGateway({
      env: {
        HYPERSDK_ALLOWED_HOSTS: 'exports.lan, [fd00::1]',
        HYPERSDK_ALLOWED_ORIGINS: 'https://ui.example:8443',
        HYPERSDK_MAX_JOBS_PER_SUBMIT: '2',
        HYPERSDK_MAX_IDS_PER_QUERY: '3',
      },
    });
  });
  afterAll(async () => gw?.close());

  it('serves hosts of daemon.allowed_hosts and origins of daemon.allowed_origins, nothing else', async () => {
    expect((await gw.request('/jobs/query', { headers: { Host: 'exports.lan:8080' } })).status).toBe(200);
    expect((await gw.request('/jobs/query', { headers: { Host: 'EXPORTS.LAN' } })).status).toBe(200);
    expect((await gw.request('/jobs/query', { headers: { Host: '[fd00::1]:8080' } })).status).toBe(200);
    expect((await gw.request('/jobs/query', { headers: { Host: 'other.lan' } })).status).toBe(403);
    expect((await gw.request('/jobs/query', { headers: { Origin: 'https://ui.example:8443' } })).status).toBe(
      200,
    );
    expect((await gw.request('/jobs/query', { headers: { Origin: 'https://ui.example' } })).status).toBe(403);
  });

  it('applies the configured caps and names them', async () => {
    const res = await gw.request('/jobs/submit', json({ jobs: [job('a'), job('b'), job('c')] }));
    expect(res.status).toBe(413);
    expect(await errorOf(res)).toMatchObject({ limit: 2, config_key: 'daemon.max_jobs_per_submit' });
    const q = await gw.request('/jobs/query', json({ job_ids: ['a', 'b', 'c', 'd'] }));
    expect(q.status).toBe(400);
    expect(await errorOf(q)).toMatchObject({ limit: 3, config_key: 'daemon.max_ids_per_query' });
    expect((await gw.request('/jobs/query', json({ job_ids: ['a', 'b', 'c'] }))).status).toBe(200);
  });
});

describe('with a token', () => {
  let gw: TestGateway;
  const token = 'boundary-token-0123456789abcdef';
  beforeAll(async () => {
    gw = await createTestGateway({ env: { HYPERSDK_API_TOKEN: token } });
  });
  afterAll(async () => gw?.close());

  it('serves any Host, still refuses a foreign Origin and non-JSON bodies', async () => {
    const auth = { Authorization: `Bearer ${token}` };
    expect(
      (await gw.request('/jobs/query', { headers: { ...auth, Host: 'exports.example.com:8443' } })).status,
    ).toBe(200);
    expect(
      (await gw.request('/jobs/query', { headers: { ...auth, Origin: 'https://evil.example' } })).status,
    ).toBe(403);
    const id = uniqueId('tok');
    const typed = await gw.request('/jobs/submit', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'text/plain' },
      body: JSON.stringify(job(id)),
    });
    expect(typed.status).toBe(415);
    expect(await notStarted(gw, id)).toBe(true);
  });
});
