// kill -9 of the worker in the middle of an Azure snapshot's transfer: a new
// worker (same identity, as after a restart) resumes from the last heartbeated
// checkpoint, asking GrantAccess again for the same snapshot (the prepare's, kept
// in history). The relay in front of Azurite counts every ranged read and slows
// them so the kill lands mid-transfer; what is read twice is what the checkpoint
// had not yet made durable, never the disk from the start.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { azureExportInput, seedVm, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';
import { KILLED_TRANSFER_NOTICED_MS } from '../harness/export-env.js';
import { spawnWorker, type WorkerProcess } from '../harness/worker-process.js';

const azure = inject('azure');
// 16 reads in flight, each held 250 ms: about 64 runs a second, 3 s in all. No worker in this process.
const env = useAzureExports(azure, { relay: { readDelayMs: 250 }, worker: false });
// Checkpoints every half second; a worker of its own identity, restarted under the same.
env.config.worker.heartbeatIntervalMs = 500;
env.config.worker.identity = `azure-kill-${randomBytes(3).toString('hex')}`;
const MiB = 2 ** 20;
const DISK = 64 * MiB;
const RUNS = 200;
// Runs of 64 KiB every 256 KiB: one read each.
const ranges = Array.from({ length: RUNS }, (_, i) => ({ offset: i * 256 * 1024, length: 64 * 1024 }));

let vm: SeededVm;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  vm = await seedVm(azure, env.fake, { name: 'kill1', resourceGroup: 'rg-kill', dir: join(env.config.output.allowedRoots[0]!, 'expected-kill'), disks: [{ sizeBytes: DISK, ranges }] });
  // The worker processes poll long-running operations at the SDK's pace: answer them at once.
  env.fake.operationPolls = 0;
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.kill('SIGKILL')));
});

it('resumes a killed transfer from its checkpoint: runs read twice are the last moments only', async () => {
  const root = env.config.output.allowedRoots[0]!;
  const dir = join(root, 'kill-resume');
  mkdirSync(dir, { recursive: true });
  // The worker's environment is this process's: the stand-in's identity endpoint, the narrowed credential chain.
  workers.push(await spawnWorker(env.config, root, 'azure-worker-1'));
  const input = azureExportInput(`azure-kill-${Date.now()}`, vm.vmId, dir, { format: 'qcow2', transferHeartbeatTimeoutMs: KILLED_TRANSFER_NOTICED_MS });
  const handle = await env.client.workflow.start(EXPORT_WORKFLOW_TYPE, { taskQueue: env.config.temporal.taskQueue, workflowId: input.jobId, args: [input] });
  const dataReads = () => env.relay.reads().filter((r) => r.path.includes('/snapshots/') && r.start < DISK && r.status === 206);
  // Bounded wait for the transfer to be half-way.
  for (let i = 0; i < 1200 && dataReads().length < RUNS / 2; i++) await new Promise((r) => setTimeout(r, 50));
  expect(dataReads().length).toBeGreaterThanOrEqual(RUNS / 2);
  await workers[0]!.kill('SIGKILL');
  const readByFirst = dataReads().length;
  expect(readByFirst).toBeLessThan(RUNS);
  workers.push(await spawnWorker(env.config, root, 'azure-worker-2'));
  const result = (await handle.result()) as ExportResult;

  const all = dataReads().map((r) => r.start);
  const again = all.slice(readByFirst);
  const first = new Set(all.slice(0, readByFirst));
  const twice = again.filter((start) => first.has(start));
  // Reported for the closing note: what a kill -9 cost.
  console.log(`azure kill -9 after ${readByFirst} of ${RUNS} runs: ${twice.length} runs (${(twice.length * 64) / 1024} MiB) read twice`);
  // Every run was read, and the second worker started from a checkpoint, not from zero.
  expect(new Set(all)).toEqual(new Set(ranges.map((r) => r.offset)));
  expect(again.length).toBeLessThan(RUNS);
  expect(Math.min(...again)).toBeGreaterThan(0);
  expect(twice.length).toBeLessThan(readByFirst);
  const disk = result.files.find((f) => f.name.endsWith('.qcow2'))!;
  expect((await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', join(result.outputDir, disk.name), vm.disks[0]!.expected)).stdout).toContain('Images are identical');
  // The same snapshot served both workers (access granted again, not a second snapshot), then was revoked and deleted.
  const tag = `hypersdk-export-${input.jobId}`;
  expect(env.fake.snapshotsTagged(tag)).toEqual([]);
  const deleted = env.fake.deletedTagged(tag);
  expect(deleted).toHaveLength(1);
  expect(deleted[0]!.grants).toBeGreaterThanOrEqual(2);
  expect(deleted[0]!.accessActive).toBe(false);
}, 180_000);
