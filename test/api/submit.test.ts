// POST /jobs/submit: shapes, aliases, warnings, defaults, ids. A body that is a
// job, a list or {jobs} is answered 200 with accepted/rejected and errors naming
// the field (the original daemon's clients read accepted == 0); a body that is
// not one of those is a 4xx naming the field.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestGateway, json, yaml, type TestGateway } from './helpers.js';

interface SubmitBody {
  job_ids: string[];
  accepted: number;
  rejected: number;
  errors?: string[];
  warnings?: string[];
  timestamp: string;
  error?: string;
  field?: string;
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await createTestGateway();
});
afterAll(async () => gw?.close());

async function submit(init: RequestInit): Promise<{ status: number; body: SubmitBody }> {
  const res = await gw.request('/jobs/submit', init);
  return { status: res.status, body: (await res.json()) as SubmitBody };
}

describe('POST /jobs/submit', () => {
  it('accepts one JSON job and starts a workflow whose id is the job id', async () => {
    const { status, body } = await submit(json({ name: 'one', vm_path: '/DC0/vm/DC0_H0_VM0', output_path: 'one' }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ accepted: 1, rejected: 0 });
    expect(body.job_ids).toHaveLength(1);
    expect(body.job_ids[0]).not.toContain(':');
    expect(Date.parse(body.timestamp)).not.toBeNaN();
    const description = await gw.client.workflow.getHandle(body.job_ids[0]!).describe();
    expect(description.type).toBe('exportVmWorkflow');
    expect(description.taskQueue).toBe(gw.config.temporal.taskQueue);
  });

  it('accepts a YAML batch and a bare JSON array', async () => {
    const batch = await submit(
      yaml(`jobs:\n  - name: "vm-1"\n    vm_path: "/DC0/vm/vm-1"\n    output_path: "b1"\n  - name: "vm-2"\n    vm_path: "/DC0/vm/vm-2"\n    output_path: "b2"\n`),
    );
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ accepted: 2, rejected: 0 });
    const array = await submit(json([{ vm_path: '/DC0/vm/a' }, { vm_path: '/DC0/vm/b' }]));
    expect(array.body.accepted).toBe(2);
  });

  it('accepts unused fields and aliases, listing them in warnings, and applies config defaults', async () => {
    const { status, body } = await submit(
      json({ id: '', vm_path: '/DC0/vm/x', output_dir: 'alias-dir', method: 'datastore', compression: true, verify: false, created_at: '2024-01-01T00:00:00Z' }),
    );
    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    const warnings = body.warnings!.join('\n');
    for (const field of ['compression', 'verify', 'created_at', 'id']) expect(warnings).toContain(field);
    const job = (await (await gw.request(`/jobs/${body.job_ids[0]}`)).json()) as { definition: Record<string, unknown> };
    expect(job.definition).toMatchObject({
      vm_path: '/DC0/vm/x',
      output_path: 'alias-dir',
      output_dir: 'alias-dir',
      export_method: 'web',
      method: 'datastore',
      format: 'ovf',
      options: { parallel_downloads: 4, remove_cdrom: false, snapshot: false, power_off: false },
    });
  });

  it('uses a client-given id and rejects a duplicate', async () => {
    const id = `client-id-${Date.now()}`;
    const first = await submit(json({ id, vm_path: '/DC0/vm/y' }));
    expect(first.body.job_ids).toEqual([id]);
    const second = await submit(json({ id, vm_path: '/DC0/vm/y' }));
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ job_ids: [], accepted: 0, rejected: 1 });
    expect(second.body.errors).toEqual([`id: job id ${id} already exists`]);
  });

  it('accepts the good jobs of a batch and reports the bad ones by index and field', async () => {
    const { status, body } = await submit(json({ jobs: [{ vm_path: '/DC0/vm/ok' }, { name: 'no-path' }] }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(body.errors).toEqual([expect.stringContaining('jobs[1].vm_path') as unknown]);
  });

  const refused: [string, RequestInit, RegExp][] = [
    ['missing vm_path', json({ output_path: 'x' }), /^vm_path: is required$/],
    ['an empty object', json({}), /^vm_path: is required$/],
    ['wrong type', json({ vm_path: '/v', options: { parallel_downloads: '4' } }), /^options\.parallel_downloads: /],
    ['invalid enum', json({ vm_path: '/v', format: 'zip' }), /^format: /],
    ['id with a colon', json({ id: 'a:b', vm_path: '/v' }), /^id: must be/],
    ['output_path outside the roots', json({ vm_path: '/v', output_path: '/etc/hypersdk' }), /^output_path: .*outside the allowed output roots/],
    ['relative escape', json({ vm_path: '/v', output_path: '../../../../etc' }), /^output_path/],
    ['an empty list', json([]), /^jobs: the list is empty$/],
    ['jobs that is not a list', json({ jobs: 'x' }), /^jobs: must be a list/],
  ];
  for (const [what, init, message] of refused) {
    it(`answers 200 with accepted 0 and an error naming the field for ${what}`, async () => {
      const { status, body } = await submit(init);
      expect(status).toBe(200);
      expect(body).toMatchObject({ job_ids: [], accepted: 0 });
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]).toMatch(message);
      expect(body.timestamp).toBeTypeOf('string');
      expect(JSON.stringify(body)).not.toMatch(/\n\s+at /);
    });
  }

  const bad: [string, RequestInit, number, RegExp][] = [
    ['malformed JSON', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"vm_path": ' }, 400, /body: malformed JSON/],
    ['malformed YAML', yaml('jobs:\n  - vm_path: [unclosed\n'), 400, /malformed YAML at line \d/],
    ['scalar body', json(42), 400, /body/],
    ['empty body', { method: 'POST', body: '' }, 400, /body: empty/],
  ];
  for (const [what, init, status, message] of bad) {
    it(`answers ${status} naming the field for ${what}`, async () => {
      const res = await gw.request('/jobs/submit', init);
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: string; timestamp: string };
      expect(body.error).toMatch(message);
      expect(body.timestamp).toBeTypeOf('string');
      expect(JSON.stringify(body)).not.toMatch(/\n\s+at /);
    });
  }

  it('accepts what the original daemon\'s Python SDK sends and answers in its vocabulary', async () => {
    const { status, body } = await submit(
      json({
        vm_path: '/DC0/vm/py01',
        output_dir: 'py01',
        format: 'vmdk',
        export_method: 'govc',
        compress: false,
        thin: false,
        insecure: false,
        options: { parallel_downloads: 4, remove_cdrom: false, show_individual_progress: false, enable_pipeline: false, compress_level: 6, libvirt_integration: false },
        created_at: '2026-12-01T10:00:00.123456',
      }),
    );
    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    const warnings = body.warnings!.join('\n');
    for (const field of ['format: vmdk', 'export_method: "govc"', 'compress', 'thin', 'options.compress_level', 'created_at']) expect(warnings).toContain(field);
    const job = (await (await gw.request(`/jobs/${body.job_ids[0]}`)).json()) as { definition: Record<string, unknown> };
    // The Python SDK builds ExportFormat and ExportMethod enums from these two.
    expect(job.definition).toMatchObject({ format: 'ovf', export_method: 'govc', method: 'auto', output_dir: 'py01' });
    expect(Date.parse(job.definition.created_at as string)).not.toBeNaN();
  });

  it('answers 413 for a body over the size limit', async () => {
    const huge = JSON.stringify({ vm_path: '/v', name: 'x'.repeat(gw.config.daemon.maxBodyBytes + 10) });
    const res = await gw.request('/jobs/submit', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': String(huge.length) }, body: huge });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toContain('body');
  });

  it('refuses (accepted 0, OutputExists) an output holding an earlier export of the VM, unless overwrite: true', async () => {
    const root = gw.config.output.allowedRoots[0]!;
    const dir = join(root, `exists-${randomUUID().slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'web01.ovf'), '<Envelope/>');
    writeFileSync(join(dir, 'web01-disk1.vmdk'), 'x');
    writeFileSync(join(dir, 'web01-disk1.vmdk.bak'), 'not ours'); // not an export file name
    const refused = await submit(json({ vm_path: '/DC0/vm/web01', output_path: dir }));
    expect(refused.status).toBe(200);
    expect(refused.body.errors![0]).toContain('output_path: OutputExists');
    expect(refused.body.errors![0]).toContain('web01-disk1.vmdk, web01.ovf');
    expect(refused.body.errors![0]).toContain('overwrite: true');
    expect(refused.body.accepted).toBe(0);

    const other = await submit(json({ vm_path: '/DC0/vm/db01', output_path: dir }));
    expect(other.status).toBe(200);
    const allowed = await submit(json({ vm_path: '/DC0/vm/web01', output_path: dir, overwrite: true }));
    expect(allowed.status).toBe(200);
    const description = await gw.client.workflow.getHandle(allowed.body.job_ids[0]!).describe();
    expect(description.status.name).toBe('RUNNING');
    const wrongType = await submit(json({ vm_path: '/DC0/vm/web01', output_path: dir, overwrite: 'yes' }));
    expect(wrongType.body.accepted).toBe(0);
    expect(wrongType.body.errors![0]).toMatch(/^overwrite: /);
  });
});
