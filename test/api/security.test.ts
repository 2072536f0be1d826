// Inline credentials never leave the gateway in plaintext; tokens guard the API;
// /openapi.json and /metrics are served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCredentials } from '../../src/config/secrets.js';
import type { ExportWorkflowInput } from '../../src/core/export-contract.js';
import { createTestGateway, json, type TestGateway } from './helpers.js';

const PASSWORD = 'S3cr3t-inline-P@ssw0rd-unique';

describe('inline vCenter credentials', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // Inline credentials go only to vCenters the configuration lists.
    gw = await createTestGateway({ env: { HYPERSDK_VSPHERE_ALLOWED_HOSTS: 'vc.example' } });
  });
  afterAll(async () => gw?.close());

  it('for a vCenter the configuration does not list, or over http://, are refused at submit naming the field and the key', async () => {
    for (const [body, field, key] of [
      [
        {
          vm_path: '/DC0/vm/cred',
          vcenter: { server: 'https://elsewhere.example/sdk', username: 'a', password: PASSWORD },
        },
        'vcenter.server',
        'vsphere.allowed_hosts',
      ],
      [
        {
          vm_path: '/DC0/vm/cred',
          vcenter_url: 'http://vc.example/sdk',
          username: 'a',
          password: PASSWORD,
          insecure: true,
        },
        'vcenter_url',
        'vsphere.allow_insecure_http',
      ],
    ] as const) {
      const res = await gw.request('/jobs/submit', json(body));
      const text = await res.text();
      // Answered as the original daemon did: 200, nothing accepted, the reason in errors.
      expect(res.status, text).toBe(200);
      expect(JSON.parse(text)).toMatchObject({ accepted: 0, rejected: 1, errors: [expect.stringMatching(new RegExp(`^${field.replace('.', '\\.')}: `))] });
      expect(text).toContain(field);
      expect(text).toContain(key);
      expect(text).not.toContain(PASSWORD);
    }
  });

  for (const [shape, body] of [
    [
      'vcenter object',
      {
        vm_path: '/DC0/vm/cred',
        vcenter: { server: 'https://vc.example/sdk', username: 'admin', password: PASSWORD, insecure: true },
      },
    ],
    [
      'legacy top-level fields',
      {
        vm_path: '/DC0/vm/cred',
        vcenter_url: 'https://vc.example/sdk',
        username: 'admin',
        password: PASSWORD,
        insecure: true,
      },
    ],
  ] as const) {
    it(`are sealed, never echoed and absent from history (${shape})`, async () => {
      const res = await gw.request('/jobs/submit', json(body));
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text).not.toContain(PASSWORD);
      const id = (JSON.parse(text) as { job_ids: string[] }).job_ids[0]!;

      const handle = gw.client.workflow.getHandle(id);
      const history = await handle.fetchHistory();
      const historyText = JSON.stringify(history);
      expect(historyText).not.toContain(PASSWORD);
      expect(Buffer.from(historyText).toString('base64')).not.toContain(
        Buffer.from(PASSWORD).toString('base64'),
      );
      // Payload data is bytes: decode every payload and search the plaintext too.
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      const data = started?.input?.payloads?.[0]?.data;
      const input = JSON.parse(Buffer.from(data!).toString('utf8')) as ExportWorkflowInput;
      expect(JSON.stringify(input)).not.toContain(PASSWORD);
      expect(input.source).not.toHaveProperty('profile');
      expect(openCredentials(gw.config.secretsKey, input.source.sealedCredentials!, id)).toMatchObject({
        password: PASSWORD,
        username: 'admin',
        insecure: true,
      });
      expect(() =>
        openCredentials(gw.config.secretsKey, input.source.sealedCredentials!, `${id}-other`),
      ).toThrow(/not to this job/);
      const description = await handle.describe();
      expect(JSON.stringify(description.memo)).not.toContain(PASSWORD);

      for (const path of [`/jobs/${id}`, `/jobs/progress/${id}`, '/jobs/query?all=true']) {
        expect(await (await gw.request(path)).text()).not.toContain(PASSWORD);
      }
    });
  }
});

describe('token authentication', () => {
  let gw: TestGateway;
  const token = 'test-token-0123456789abcdef';
  beforeAll(async () => {
    gw = await createTestGateway({ env: { HYPERSDK_API_TOKEN: token } });
  });
  afterAll(async () => gw?.close());

  it('leaves /health open and requires the token elsewhere', async () => {
    expect((await gw.request('/health')).status).toBe(200);
    const denied = await gw.request('/status');
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { error: string }).error).toContain('Authorization');
    expect((await gw.request('/status', { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await gw.request('/status', { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await gw.request('/jobs/query', { headers: { 'X-API-Key': token } })).status).toBe(200);
  });

  it('refuses to build an app bound beyond loopback without a token', async () => {
    const { createApp } = await import('../../src/api/app.js');
    const config = {
      ...gw.config,
      daemon: { ...gw.config.daemon, addr: '0.0.0.0:8080', apiToken: undefined },
    };
    expect(() =>
      createApp({
        config,
        temporalClient: gw.client,
        providerFactory: () => Promise.reject(new Error('x')),
        startedAt: new Date(),
      }),
    ).toThrow(/HYPERSDK_API_TOKEN/);
  });
});

describe('documents', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await createTestGateway();
  });
  afterAll(async () => gw?.close());

  it('GET /health', async () => {
    const res = await gw.request('/health');
    expect(await res.json()).toMatchObject({ status: 'healthy', timestamp: expect.any(String) as unknown });
  });

  it('GET /openapi.json describes every route with schemas', async () => {
    const doc = (await (await gw.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/health',
      '/status',
      '/jobs/submit',
      '/jobs/query',
      '/jobs/{id}',
      '/jobs/cancel',
      '/jobs/progress/{id}',
      '/vms/list',
      '/vms/info',
    ]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    expect(JSON.stringify(doc.paths['/jobs/submit']!.post!.requestBody)).toContain('vm_path');
  });

  it('GET /metrics serves Prometheus text with route labels', async () => {
    await gw.request('/health');
    const res = await gw.request('/metrics');
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/hypersdk_http_requests_total\{method="GET",route="\/health",status="200"\} \d/);
  });

  it('unknown routes are 404 with the error shape', async () => {
    const res = await gw.request('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: expect.stringContaining('/nope') as unknown });
  });
});
