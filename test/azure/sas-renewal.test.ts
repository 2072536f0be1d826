// A GrantAccess SAS that expires while the export still reads: the stand-in makes
// every grant last 3 s, a relay holds each read 250 ms, so the transfer outlives
// its first SAS. The transfer asks for access again (another GrantAccess on the
// same snapshot) and goes on from where it was; Azurite itself refuses the
// expired SAS. The image must still be the disk, every page read once.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { azureExportInput, seedVm, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';

const azure = inject('azure');
const env = useAzureExports(azure, { relay: { readDelayMs: 250 } });
const root = () => env.config.output.allowedRoots[0]!;
const KiB = 1024;
const MiB = 2 ** 20;
const DISK = 64 * MiB;
// 160 separate runs of 64 KiB, 400 KiB apart: 160 reads, 10 rounds of 16 in flight, about 2.5 s of reads.
const RANGES = Array.from({ length: 160 }, (_, i) => ({ offset: i * 400 * KiB, length: 64 * KiB }));
const SAS_SECONDS = 3;

let vm: SeededVm;

beforeAll(async () => {
  vm = await seedVm(azure, env.fake, { name: 'slow1', resourceGroup: 'rg-sas', dir: join(root(), 'expected-sas'), disks: [{ sizeBytes: DISK, ranges: RANGES }] });
}, 60_000);

it('renews an expiring SAS with another GrantAccess and completes, the image identical and each page read once', async () => {
  env.fake.sasSeconds = SAS_SECONDS;
  const dir = join(root(), 'sas-renewal');
  mkdirSync(dir, { recursive: true });
  const jobId = `azure-sas-${Date.now()}`;
  env.relay.reset();
  const started = Date.now();
  const result = await env.client.workflow.execute<(input: ExportWorkflowInput) => Promise<ExportResult>>(EXPORT_WORKFLOW_TYPE, {
    taskQueue: env.config.temporal.taskQueue,
    workflowId: jobId,
    args: [azureExportInput(jobId, vm.vmId, dir, { format: 'raw' })],
  });
  // Long enough that the first SAS could not have served it all.
  expect(Date.now() - started).toBeGreaterThan(SAS_SECONDS * 1000);

  const disk = result.files.find((f) => f.name.endsWith('.raw'))!;
  expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', join(dir, disk.name), vm.disks[0]!.expected)).stdout).toContain('Images are identical');
  const [snapshot] = env.fake.deletedTagged(`hypersdk-export-${jobId}`);
  expect(snapshot).toBeDefined();
  // One grant at the start, at least one more when the first SAS neared its end; all revoked.
  expect(snapshot!.grants).toBeGreaterThanOrEqual(2);
  expect(snapshot!.accessActive).toBe(false);
  // Every allocated page came once in a successful read: a refused read was read again, none twice.
  const served = env.relay.reads().filter((r) => r.path.includes('/snapshots/') && (r.status === 206 || r.status === 200) && r.start < DISK);
  expect(served.reduce((sum, r) => sum + r.bytes, 0)).toBe(RANGES.length * 64 * KiB);
}, 120_000);
