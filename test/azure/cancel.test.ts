// Cancelling an Azure export mid-transfer: the workflow stops its reads, revokes
// the read access it was granted and deletes the snapshots it took (checked on the
// Resource Manager stand-in's state), and removes every file it created.
import { WorkflowFailedError } from '@temporalio/client';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE } from '../../src/core/export-contract.js';
import { azureExportInput, seedVm, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';

const azure = inject('azure');
// Each ranged read held 400 ms, 16 at a time per disk: the 160 runs of each disk take 4 s.
const env = useAzureExports(azure, { relay: { readDelayMs: 400 } });
const MiB = 2 ** 20;
const RUNS = 160;
// Runs of 64 KiB every 256 KiB: never merged into one read.
const ranges = Array.from({ length: RUNS }, (_, i) => ({ offset: i * 256 * 1024, length: 64 * 1024 }));

let vm: SeededVm;

beforeAll(async () => {
  vm = await seedVm(azure, env.fake, {
    name: 'db1',
    resourceGroup: 'rg-data',
    dir: join(env.config.output.allowedRoots[0]!, 'expected-cancel'),
    disks: [
      { sizeBytes: 48 * MiB, ranges },
      { sizeBytes: 48 * MiB, ranges },
    ],
  });
}, 60_000);

it('stops, revokes the access and deletes the snapshots it took, and removes only the files it created', async () => {
  const dir = join(env.config.output.allowedRoots[0]!, 'cancelled');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'notes.txt'), "not the export's");
  const jobId = `azure-cancel-${Date.now()}`;
  const tag = `hypersdk-export-${jobId}`;
  const handle = await env.client.workflow.start(EXPORT_WORKFLOW_TYPE, {
    taskQueue: env.config.temporal.taskQueue,
    workflowId: jobId,
    args: [azureExportInput(jobId, 'db1', dir, { source: { provider: 'azure', subscriptionId: env.config.azure!.subscriptionId!, resourceGroup: 'rg-data' } })],
  });
  const dataReads = () => env.relay.reads().filter((r) => r.path.includes('/snapshots/') && r.start < 48 * MiB).length;
  for (let i = 0; i < 400 && dataReads() < RUNS / 4; i++) await new Promise((r) => setTimeout(r, 50));
  const before = dataReads();
  expect(before).toBeGreaterThanOrEqual(RUNS / 4);
  expect(before).toBeLessThan(2 * RUNS);
  // Access was granted to both snapshots, and is still out.
  expect(env.fake.snapshotsTagged(tag).map((s) => [s.accessActive, s.grants])).toEqual([
    [true, 1],
    [true, 1],
  ]);

  await handle.cancel();
  const outcome = await handle.result().then(
    () => 'completed',
    (err: unknown) => (err instanceof WorkflowFailedError ? err.cause?.name : String(err)),
  );
  expect(outcome).toBe('CancelledFailure');
  // Revoked, then deleted: none of the job's snapshots is left, none with access out.
  expect(env.fake.snapshotsTagged(tag)).toEqual([]);
  const deleted = env.fake.deletedTagged(tag);
  expect(deleted.map((s) => s.sourceDiskId).sort()).toEqual(vm.disks.map((d) => d.id).sort());
  for (const s of deleted) {
    expect(s.accessActive).toBe(false);
    expect(s.revokes).toBeGreaterThanOrEqual(1);
  }
  // The order Resource Manager saw for each snapshot: access granted, revoked, then the delete.
  for (const s of deleted) {
    const calls = env.fake.state.calls.filter((c) => c.path.endsWith(`/snapshots/${s.name}`) || c.path.includes(`/snapshots/${s.name}/`)).map((c) => `${c.method} ${c.path.split(`/snapshots/${s.name}`)[1] || '/'}`);
    expect(calls.indexOf('POST /beginGetAccess')).toBeLessThan(calls.lastIndexOf('POST /endGetAccess'));
    expect(calls.lastIndexOf('POST /endGetAccess')).toBeLessThan(calls.lastIndexOf('DELETE /'));
  }
  expect(readdirSync(dir)).toEqual(['notes.txt']);
  // Not every page was read: the cancel stopped the transfer.
  expect(dataReads()).toBeLessThan(2 * RUNS);
}, 120_000);
