// hyperctl as hyper2kvm runs it: a subprocess against a real gateway on a free
// loopback port, reading its text output.
import { Client, Connection } from '@temporalio/client';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../src/api/gateway.js';
import type { HyperConfig } from '../../src/config/types.js';
import { noProvider, startStubWorker, testConfig } from '../api/helpers.js';
import { runBin, type BinRun } from '../harness/run-bin.js';


function hyperctl(args: string[], env: Record<string, string> = {}): Promise<BinRun> {
  return runBin('hyperctl', args, { ...process.env, NO_COLOR: '', ...env });
}

let config: HyperConfig;
let gateway: RunningGateway;
let connection: Connection;
let worker: { stop(): Promise<void> };
let daemon: string[];

beforeAll(async () => {
  config = await testConfig({ DAEMON_ADDR: '127.0.0.1:0' });
  connection = await Connection.connect({ address: config.temporal.address! });
  gateway = await startGateway(config, {
    temporalClient: new Client({ connection, namespace: config.temporal.namespace }),
    providerFactory: noProvider,
    startedAt: new Date(),
  });
  daemon = ['-daemon', gateway.url];
  worker = await startStubWorker(config);
});
afterAll(async () => {
  await worker?.stop();
  await gateway?.stop();
  await connection?.close();
});

function jobIdOf(stdout: string): string {
  const match = /^ {2}- Job ID: (\S+)$/m.exec(stdout);
  expect(match, stdout).not.toBeNull();
  return match![1]!;
}

describe('hyperctl', () => {
  it('does what hyper2kvm does: submit, take the Job ID line, poll query until completed', async () => {
    const output = join(config.output.allowedRoots[0]!, 'h2k');
    const submit = await hyperctl(['submit', '-vm', '/DC0/vm/complete-h2k', '-output', output, ...daemon]);
    expect(submit.code, submit.stderr).toBe(0);
    const id = jobIdOf(submit.stdout);
    expect(id).not.toContain(':');
    let last = '';
    for (let i = 0; i < 60 && !last.includes('completed'); i++) {
      const q = await hyperctl(['query', '-id', id, ...daemon]);
      expect(q.code).toBe(0);
      last = q.stdout;
      if (!last.includes('completed')) await new Promise((r) => setTimeout(r, 250));
    }
    expect(last).toMatch(/Status: +completed/);
    expect(last).toContain(`${output}/vm.ovf`);
    expect(last).not.toContain('\u001b[');
  });

  it('shows a pending job with its status word and no final-state word anywhere', async () => {
    // A queue nobody polls: the job stays pending. Its path contains "completed"
    // and "failed", which must not leak into the output while it is pending.
    const submit = await hyperctl(['submit', '--vm=/DC0/vm/transfer-completed-failed', '--id', `pending-${Date.now()}`, '--name', 'cancelled-name', ...daemon]);
    const id = jobIdOf(submit.stdout);
    const q = await hyperctl(['query', '-id', id, ...daemon]);
    expect(q.stdout).toMatch(/Status: +(pending|running)/);
    expect(q.stdout).not.toMatch(/completed|failed|cancelled/i);
    const cancel = await hyperctl(['cancel', '-id', id, ...daemon]);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain(id);
  });

  it('submits a job file and prints every id; -json gives machine output', async () => {
    const file = join(config.daemon.dataDir, 'batch.yaml');
    writeFileSync(file, 'jobs:\n  - name: "vm-1"\n    vm_path: "/DC0/vm/complete-1"\n    output_path: "f1"\n  - name: "vm-2"\n    vm_path: "/DC0/vm/complete-2"\n    output_path: "f2"\n    compression: true\n');
    const submit = await hyperctl(['submit', '-file', file, ...daemon]);
    expect(submit.code).toBe(0);
    expect(submit.stdout.match(/ {2}- Job ID: /g)).toHaveLength(2);
    expect(submit.stderr).toContain('compression');
    const json = await hyperctl(['query', '-all', '-json', ...daemon]);
    const parsed = JSON.parse(json.stdout) as { jobs: unknown[]; total: number };
    expect(parsed.total).toBeGreaterThanOrEqual(2);
  });

  it('status exits 0 when the daemon answers and 3 when it does not', async () => {
    const ok = await hyperctl(['status'], { HYPERVISOR_URL: gateway.url });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Jobs:');
    const down = await hyperctl(['status', '-daemon', 'http://127.0.0.1:1']);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach the daemon');
  });

  it('watch follows a job to its end and exits by outcome', async () => {
    const ok = jobIdOf((await hyperctl(['submit', '-vm', '/DC0/vm/complete-w', ...daemon])).stdout);
    const watched = await hyperctl(['watch', '-id', ok, '-interval', '0.2', '-timeout', '30', ...daemon]);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain('completed');
    const bad = jobIdOf((await hyperctl(['submit', '-vm', '/DC0/vm/fail-w', ...daemon])).stdout);
    const failed = await hyperctl(['watch', '-id', bad, '-interval', '0.2', '-timeout', '30', ...daemon]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('not found');
  });

  it('describe and history read Temporal directly', async () => {
    const id = jobIdOf((await hyperctl(['submit', '-vm', '/DC0/vm/complete-d', ...daemon])).stdout);
    const temporal = ['-temporal', config.temporal.address!];
    let described: BinRun | undefined;
    for (let i = 0; i < 40; i++) {
      described = await hyperctl(['describe', '-id', id, '-json', ...temporal]);
      if ((JSON.parse(described.stdout) as { status: string }).status === 'COMPLETED') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(JSON.parse(described!.stdout)).toMatchObject({ workflow_id: id, type: 'exportVmWorkflow', search_attributes: { HyperVmPath: '/DC0/vm/complete-d' } });
    const history = await hyperctl(['history', '-id', id, ...temporal]);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain('workflowExecutionCompleted');
  });

  it('rejects bad flags, missing arguments and bad values with usage and exit 2', async () => {
    for (const args of [['submit', '-nope'], ['submit'], ['query'], ['cancel'], ['submit', '-vm', 'x', '-parallel', 'many'], ['frobnicate'], []]) {
      const run = await hyperctl([...args, ...daemon]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(/Usage:|error:/);
    }
  });

  it('reports daemon-side errors with exit 1 and says what to do', async () => {
    const missing = await hyperctl(['query', '-id', 'no-such-job', ...daemon]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("hyperctl query -all");
    const rejected = await hyperctl(['submit', '-vm', '/DC0/vm/x', '-output', '/etc/nowhere', ...daemon]);
    expect(rejected.code).toBe(1);
    // The daemon answers 200 with accepted 0: still a refusal, with each reason.
    expect(rejected.stderr).toMatch(/^Submit rejected:\n {2}- output_path: /);
    expect(rejected.stdout).not.toContain('Job ID');
    // Cancel errors come by job id: each failed id with its reason.
    const cancel = await hyperctl(['cancel', '-id', 'no-such-job', ...daemon]);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toContain('Could not cancel: job no-such-job not found');
  });
});

describe('hyperctl as scripts call the Go binary', () => {
  it('prints its version with -version', async () => {
    const run = await hyperctl(['-version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^hyperctl version \d+\.\d+\.\d+/);
  });

  it('takes -daemon before the command and Go booleans (-all=true)', async () => {
    const status = await hyperctl(['-daemon', gateway.url, 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(gateway.url);
    const query = await hyperctl([`-daemon=${gateway.url}`, 'query', '-all=true', '--json=true']);
    expect(query.code, query.stderr).toBe(0);
    expect(JSON.parse(query.stdout)).toHaveProperty('jobs');
    const bad = await hyperctl(['-daemon', gateway.url, 'query', '-all=yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('-all is a switch');
  });

  it('watch takes the job id as its argument', async () => {
    const id = jobIdOf((await hyperctl(['submit', '-vm', '/DC0/vm/complete-positional', ...daemon])).stdout);
    const watched = await hyperctl(['-daemon', gateway.url, 'watch', id, '-interval', '0.2', '-timeout', '30']);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toContain('completed');
  });

  it('logs prints a finished job\'s lines, and -f ends when the job has ended', async (ctx) => {
    // GET /jobs/logs/{id} comes with the REST side of this change: without it the
    // gateway answers 404 "no route GET ..." (not "job not found").
    const probe = await fetch(`${gateway.url}/jobs/logs/probe`);
    const body = (await probe.json().catch(() => ({}))) as { error?: string };
    if (probe.status === 404 && (body.error ?? '').startsWith('no route')) ctx.skip();
    const id = jobIdOf((await hyperctl(['submit', '-vm', '/DC0/vm/complete-logs', ...daemon])).stdout);
    expect((await hyperctl(['watch', id, '-interval', '0.2', '-timeout', '30', ...daemon])).code).toBe(0);
    const logs = await hyperctl(['-daemon', gateway.url, 'logs', id]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^\S+ (DEBUG|INFO |WARN |ERROR) \[(history|worker)\] /m);
    const followed = await hyperctl(['logs', '-f', '-tail', '3', '-interval', '0.2', '-timeout', '30', id, ...daemon]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout.trim().split('\n').length).toBeLessThanOrEqual(3);
    expect(followed.stderr).toContain(`job ${id} completed`);
  });

  it('a refused output path names the setting and the variable that allow it', async () => {
    const rejected = await hyperctl(['submit', '-vm', '/DC0/vm/x', '-output', '/var/lib/hyper2kvm/output/vm1', ...daemon]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('output.allowed_roots');
    expect(rejected.stderr).toMatch(/HYPERSDK_OUTPUT_ROOTS=\S+:\/var\/lib\/hyper2kvm\/output /);
  });
});
