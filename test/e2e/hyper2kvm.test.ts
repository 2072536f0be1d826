// What hyper2kvm does, against a real hypervisord: hyperctl submit as a
// subprocess, the id from the "Job ID:" line, hyperctl query until the output says
// completed, then the files. And inline vCenter credentials over REST, whose
// password must surface nowhere.
import { Client, Connection } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseManifest } from '../../src/export/ovf.js';
import { decodedHistoryText } from '../harness/history.js';
import { createTestVm, sha256File } from '../export/helpers.js';
import { hyperctl, startDaemon, type Daemon } from './daemon.js';

const services = inject('services');
const MiB = 1024 * 1024;
let daemon: Daemon;

beforeAll(async () => {
  daemon = await startDaemon(services);
});
afterAll(async () => {
  await daemon?.stop();
});

async function pollUntilFinished(id: string): Promise<string> {
  for (let i = 0; i < 240; i++) {
    const { stdout } = await hyperctl(daemon, ['query', '-id', id]);
    if (/\b(completed|failed|cancelled)\b/.test(stdout)) return stdout;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`job ${id} did not finish in 2 minutes`);
}

describe('hyper2kvm against hypervisord', () => {
  it('submits with hyperctl, polls query until completed, and finds the exported files', async () => {
    const name = `h2k-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 64 * MiB, poweredOn: false });
    const output = join(daemon.exportRoot, name);

    const submit = await hyperctl(daemon, ['submit', '-vm', vm.path, '-output', output]);
    expect(submit.code, submit.stderr).toBe(0);
    const id = /^ {2}- Job ID: (\S+)$/m.exec(submit.stdout)?.[1];
    expect(id).toBeDefined();
    expect(id).not.toContain(':');

    const final = await pollUntilFinished(id!);
    expect(final).toContain('completed');
    expect(final.includes('\u001b['), 'ANSI codes into a pipe').toBe(false);

    const files = readdirSync(output).sort();
    expect(files).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.mf`, `${name}.ovf`]);
    const manifest = parseManifest(readFileSync(join(output, `${name}.mf`), 'utf8'));
    for (const [file, sha] of manifest) expect(await sha256File(join(output, file))).toBe(sha);
    const diskHashes = [...manifest].filter(([f]) => f.endsWith('.vmdk')).map(([, h]) => h).sort();
    expect(diskHashes).toEqual([...vm.hashes.values()].sort());
  });

  it('exports with inline vCenter credentials without the password in history, logs or responses', async () => {
    const name = `inline-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: false });
    const password = services.vcsim.password;
    const submit = await request(`${daemon.url}/jobs/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        vm_path: vm.path,
        output_path: join(daemon.exportRoot, name),
        vcenter: { server: services.vcsim.host, username: services.vcsim.username, password, insecure: true },
      }),
    });
    const submitted = await submit.body.text();
    expect(submit.statusCode, submitted).toBe(200);
    expect(submitted).not.toContain(password);
    const id = (JSON.parse(submitted) as { job_ids: string[] }).job_ids[0]!;

    expect(await pollUntilFinished(id)).toContain('completed');
    const job = await request(`${daemon.url}/jobs/${id}`);
    const jobText = await job.body.text();
    expect(jobText).toContain('"status":"completed"');
    expect(jobText).not.toContain(password);
    // What Go's hyperctl and the Python SDK decode: a time.Duration in integer nanoseconds, the original method vocabulary.
    const parsed = JSON.parse(jobText) as { definition: Record<string, unknown>; result: Record<string, unknown> };
    expect(parsed.definition).toMatchObject({ export_method: '', method: 'auto', format: 'ovf' });
    expect(Number.isInteger(parsed.result.duration)).toBe(true);
    expect(parsed.result.duration as number).toBeGreaterThan(1_000_000);
    expect(parsed.result.success).toBe(true);
    expect((parsed.result.duration as number) / 1e9).toBeCloseTo(parsed.result.duration_seconds as number, 2);

    // The job's logs: its history, and the lines the worker kept for it in its log book.
    const logs = await request(`${daemon.url}/jobs/logs/${id}`);
    const logsText = await logs.body.text();
    expect(logs.statusCode, logsText).toBe(200);
    expect(logsText).not.toContain(password);
    expect(logsText).not.toContain('sealedCredentials');
    const lines = (JSON.parse(logsText) as { logs: { source: string; message: string; timestamp: string }[] }).logs;
    expect(lines.filter((l) => l.source === 'history').map((l) => l.message)).toEqual(expect.arrayContaining(['export workflow started', 'job completed']));
    expect(lines.filter((l) => l.source === 'worker').map((l) => l.message)).toEqual(expect.arrayContaining(['Activity started', 'Activity completed']));
    const times = lines.map((l) => Date.parse(l.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const book = readFileSync(join(daemon.dataDir, 'job-logs', `${id}.jsonl`), 'utf8');
    expect(book).not.toContain(password);
    expect(statSync(join(daemon.dataDir, 'job-logs', `${id}.jsonl`)).mode & 0o027).toBe(0);

    const connection = await Connection.connect({ address: services.temporal.address });
    try {
      const history = await new Client({ connection }).workflow.getHandle(id).fetchHistory();
      const text = decodedHistoryText(history);
      expect(text.includes('sealedCredentials'), 'payloads decoded').toBe(true);
      expect(text.includes(password), 'password in history').toBe(false);
    } finally {
      await connection.close();
    }
    expect(daemon.log()).not.toContain(password);
  });
});
