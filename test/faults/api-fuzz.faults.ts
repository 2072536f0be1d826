// API fuzzing driven by the gateway's own /openapi.json: fast-check builds
// requests from the documented request schemas (valid, almost valid, wrong types,
// huge values, odd unicode, unknown keys), bad JSON and YAML, random paths,
// methods, query strings, content types, Host and Origin headers, and sends them
// with app.request() to a gateway backed by the real Temporal dev server and the
// real vcsim.
// Properties: never a 5xx; every error body is JSON {error, timestamp}; /health
// keeps answering; jobs held before the fuzzing are still listed afterwards with
// the same definition.
//
// Runs: 1000 in the short form, 10000 with FAULTS_FULL=1; FAULTS_SEED replays.
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { connectVsphere } from '../../src/providers/vsphere/index.js';
import { Client, Connection } from '@temporalio/client';
import { testConfig } from '../api/helpers.js';
import { arbitraryFromSchema, wildValue, type JsonSchema } from './lib/schema-arbitrary.js';
import { seedFromEnv } from './lib/rng.js';

const FULL = process.env.FAULTS_FULL === '1';
const RUNS = FULL ? 10_000 : 1_000;
const seed = seedFromEnv();
const services = inject('services');

interface Operation {
  method: string;
  path: string;
  body?: JsonSchema;
}

interface FuzzRequest {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

let app: ReturnType<typeof createApp>;
let connection: Connection;
let operations: Operation[] = [];
const serverErrors: string[] = [];
const knownDefectHits = new Map<string, number>();

/**
 * Defects this suite found are fixed and kept as regression tests below; a new one
 * can be pinned here (tolerated in the random run, with an it.fails test) until fixed.
 */
const KNOWN_DEFECTS: { name: string; matches: (r: FuzzRequest, status: number) => boolean }[] = [];

const statuses = new Map<number, number>();
const held: { id: string; definition: unknown }[] = [];

async function send(r: FuzzRequest): Promise<Response> {
  return app.app.request(r.path, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}) });
}

beforeAll(async () => {
  const config = await testConfig({
    GOVC_URL: `https://${services.vcsim.host}/sdk`,
    GOVC_USERNAME: services.vcsim.username,
    GOVC_PASSWORD: services.vcsim.password,
    GOVC_INSECURE: '1',
  });
  connection = await Connection.connect({ address: config.temporal.address! });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  app = createApp({
    config,
    temporalClient: client,
    providerFactory: (profile) => connectVsphere(profile),
    startedAt: new Date(),
    // Anything the error mapper had to call "unhandled" is a finding.
    logger: (level, message, fields) => {
      if (level === 'error') serverErrors.push(`${message} ${JSON.stringify(fields)}`);
    },
  });

  const doc = (await (await app.app.request('/openapi.json')).json()) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
  };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      ...(op.requestBody ? { body: op.requestBody.content['application/json']!.schema } : {}),
    })),
  );

  // Jobs the daemon holds before the fuzzing starts (no worker: they stay running).
  const tag = randomBytes(3).toString('hex');
  for (let i = 0; i < 3; i++) {
    const id = `held-${tag}-${i}`;
    const res = await app.app.request('/jobs/submit', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, name: `held ${i}`, vm_path: `/DC0/vm/held-${i}`, output_path: `held-${i}`, options: { parallel_downloads: i + 1 } }),
    });
    expect(res.status).toBe(200);
    const job = (await (await app.app.request(`/jobs/${id}`)).json()) as { definition: unknown };
    held.push({ id, definition: job.definition });
  }
  console.log(`API fuzzing: seed ${seed} (replay with FAULTS_SEED=${seed}), ${RUNS} requests, ${operations.length} documented operations`);
});

afterAll(async () => {
  const byStatus = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
  const known = [...knownDefectHits].map(([n, c]) => `${n} ×${c}`).join(', ') || 'none';
  console.log(`API fuzzing: responses by status: ${byStatus}; unhandled errors logged: ${serverErrors.length}; known defects hit: ${known}`);
  await app?.close();
  await connection?.close();
});

// ------------------------------------------------------------ request arbitraries

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
const contentTypes = fc.constantFrom(
  'application/json',
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  '',
  'text/x-\u00fcnknown; q=\u00ff',
);
/**
 * Host and Origin headers, mostly absent (the routes are what is fuzzed), else
 * loopback, foreign, malformed: the boundary must answer 403, never fail.
 */
const boundaryHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        host: fc.constantFrom('localhost:8080', '127.0.0.1', '[::1]:8080', 'evil.example:8080', '', 'a b', '[::1', 'localhost:99999', 'user@localhost', '127.0.0.1.nip.io', 'localhost/x'),
        origin: fc.constantFrom('http://localhost', 'https://evil.example', 'null', '', 'not a url', 'http://127.0.0.1:8080', 'file://'),
      },
      { requiredKeys: [] },
    ),
  },
);
const idSegment = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map(encodeURIComponent),
  fc.constantFrom('..', '%2e%2e', '%00', '%ff', '%', 'a%2Fb', ':', 'id:with:colons', 'x'.repeat(5_000)),
);
/** JSON that does not parse, YAML that does not parse or is not a mapping, and odd bytes. */
const badText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constantFrom('{', '{"jobs":', '[1,2', '{"vm_path": "a",}', 'null', 'true', '42', '"str"', '[]', '{}', '\u0000\u0001', '\uFEFF{}', 'NaN'),
  fc.constantFrom('jobs: [', ': : :', '- - -\n  x', '&a [*a]', '!!binary x', 'a: !!js/function "f"', 'key: @bad', '\t- tab', '---\n...\n---'),
  fc.json({ maxDepth: 3 }).map((j) => j.slice(0, Math.max(1, Math.floor(j.length / 2)))),
);

function bodyRequests(op: Operation): fc.Arbitrary<FuzzRequest> {
  const schema = arbitraryFromSchema(op.body!, 0.1);
  return fc.oneof(
    schema.map((v) => ({ label: `${op.method} ${op.path} json`, method: op.method, path: op.path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) ?? 'null' })),
    schema.map((v) => {
      let text: string;
      try {
        text = toYaml(v);
      } catch {
        text = String(v);
      }
      return { label: `${op.method} ${op.path} yaml`, method: op.method, path: op.path, headers: { 'content-type': 'application/yaml' }, body: text };
    }),
    fc.tuple(badText, contentTypes).map(([text, ct]) => ({ label: `${op.method} ${op.path} bad body`, method: op.method, path: op.path, headers: { 'content-type': ct }, body: text })),
  );
}

function concretePath(path: string): fc.Arbitrary<string> {
  return path.includes('{') ? idSegment.map((id) => path.replace(/\{[^}]+\}/, id)) : fc.constant(path);
}

const queryString = fc
  .dictionary(
    fc.constantFrom('job_ids', 'status', 'all', 'limit', 'profile', 'x', 'job_ids[]'),
    fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.integer().map(String), fc.constantFrom('true', 'false', '-1', '0', '1e9', 'running,failed', ',,,', '%zz')),
    { maxKeys: 4 },
  )
  .map((q) =>
    Object.entries(q)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&'),
  );

function requests(): fc.Arbitrary<FuzzRequest> {
  const withBody = operations.filter((o) => o.body);
  const documented = fc.constantFrom(...operations);
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...withBody).chain(bodyRequests) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(documented, queryString, boundaryHeaders)
        .chain(([op, q, extra]) => concretePath(op.path).map((p): FuzzRequest => ({ label: `GET ${op.path}?…`, method: 'GET', path: q ? `${p}?${q}` : p, headers: extra }))),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(documented, methods, contentTypes, fc.option(fc.oneof(badText, wildValue.map((v) => JSON.stringify(v) ?? '')), { nil: undefined }), boundaryHeaders)
        .chain(([op, method, ct, body, extra]) =>
          concretePath(op.path).map((p): FuzzRequest => ({
            label: `${method} ${op.path} (any method)`,
            method,
            path: p,
            headers: { ...extra, ...(ct ? { 'content-type': ct } : {}) },
            ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
          })),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(methods, fc.webPath(), fc.array(idSegment, { maxLength: 3 })).map(([method, p, segs]): FuzzRequest => ({
        label: `${method} random path`,
        method,
        path: `/${[...p.split('/').filter(Boolean), ...segs].join('/')}`,
        headers: {},
      })),
    },
  );
}

// ------------------------------------------------------------ properties

/**
 * The VM operations run as workflows, and this app has no worker: 503 "no worker
 * polls" is their right answer here (starting a worker would let random bodies
 * power off the shared simulator's VMs).
 */
function noWorkerForVmOperation(r: FuzzRequest, status: number, text: string): boolean {
  return status === 503 && /^\/vms\/(shutdown|poweroff|remove-cdrom)(\?|$)/.test(r.path) && text.includes('no worker polls');
}

async function checkResponse(r: FuzzRequest, res: Response): Promise<void> {
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const text = await res.text();
  const where = `${r.label}: ${r.method} ${r.path.slice(0, 200)} (body ${r.body?.length ?? 0} chars: ${(r.body ?? '').slice(0, 200)}) -> ${res.status} ${text.slice(0, 300)}`;
  const known = KNOWN_DEFECTS.find((d) => d.matches(r, res.status));
  if (known) knownDefectHits.set(known.name, (knownDefectHits.get(known.name) ?? 0) + 1);
  else if (res.status >= 500 && !noWorkerForVmOperation(r, res.status, text)) throw new Error(`5xx: ${where}`);
  if (res.status >= 400 && r.method !== 'HEAD') {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`error body is not JSON: ${where}`);
    }
    const b = body as { error?: unknown; timestamp?: unknown };
    if (typeof b.error !== 'string' || b.error === '' || typeof b.timestamp !== 'string') throw new Error(`error body is not {error, timestamp}: ${where}`);
    if (Number.isNaN(Date.parse(b.timestamp))) throw new Error(`error timestamp is not a date: ${where}`);
  }
}

describe(`API fuzzing from /openapi.json (seed ${seed})`, () => {
  it('never answers 5xx, errors are {error, timestamp}, /health keeps answering', async () => {
    await fc.assert(
      fc.asyncProperty(requests(), async (r) => {
        await checkResponse(r, await send(r));
        const health = await app.app.request('/health');
        if (health.status !== 200) throw new Error(`/health answered ${health.status} after ${r.label}`);
      }),
      { seed, numRuns: RUNS, endOnFailure: true },
    );
    expect(serverErrors, 'errors the gateway could only call "internal"').toEqual([]);
  });

  it('rejects bodies over the limit with 413 {error, timestamp}', async () => {
    for (const ct of ['application/json', 'application/yaml']) {
      const r: FuzzRequest = { label: 'huge body', method: 'POST', path: '/jobs/submit', headers: { 'content-type': ct }, body: `{"vm_path":"${'a'.repeat(2 * 1024 * 1024)}"}` };
      const res = await send(r);
      expect(res.status).toBe(413);
      await checkResponse(r, res);
    }
  });

  // Regression tests for defects the fuzzing found (fixed in src/api and src/config/profiles.ts).
  it('a vm_path over the search attribute limit is refused naming vm_path (200, accepted 0), not a 503 "Temporal unavailable"', async () => {
    const res = await send({ label: 'long vm_path', method: 'POST', path: '/jobs/submit', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vm_path: `/DC0/vm/${'x'.repeat(2_100)}`, output_path: 'long' }) });
    const body = (await res.json()) as { accepted: number; errors: string[] };
    expect(res.status).toBe(200);
    expect(body.accepted).toBe(0);
    expect(body.errors[0]).toMatch(/^vm_path: /);
  });

  it('/vms/info with profile "constructor", "__proto__" or "toString" is a 400 unknown profile, not a 502', async () => {
    for (const profile of ['constructor', '__proto__', 'toString']) {
      const res = await send({ label: 'prototype profile', method: 'POST', path: '/vms/info', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vm_path: '/DC0/vm/DC0_H0_VM0', profile }) });
      expect(res.status, profile).toBe(400);
    }
  });

  it('still holds the jobs it had, with the same definitions', async () => {
    for (const h of held) {
      const res = await app.app.request(`/jobs/${h.id}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { definition: unknown }).definition).toEqual(h.definition);
    }
    const listed = (await (
      await app.app.request('/jobs/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ job_ids: held.map((h) => h.id) }) })
    ).json()) as { jobs: { definition: { id: string } }[] };
    expect(listed.jobs.map((j) => j.definition.id).sort()).toEqual(held.map((h) => h.id).sort());
    expect((await app.app.request('/health')).status).toBe(200);
  });
});
