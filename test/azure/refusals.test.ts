// How an Azure export fails when something refuses it: a read SAS the blob
// service answers 403 (signed for another blob, or without read permission), a
// Resource Manager action the worker's identity may not perform, a VM that does
// not exist. Each fails at once, with a message that says what and why (and no
// secret), and the job's snapshots are still revoked and deleted.
import type { WorkflowFailedError } from '@temporalio/client';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { azureExportInput, seedVm, SUBSCRIPTION, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';

const azure = inject('azure');
const env = useAzureExports(azure);
const MiB = 2 ** 20;
const root = () => env.config.output.allowedRoots[0]!;

let vm: SeededVm;

beforeAll(async () => {
  vm = await seedVm(azure, env.fake, {
    name: 'app7',
    resourceGroup: 'rg-refused',
    dir: join(root(), 'expected-refused'),
    disks: [{ sizeBytes: 8 * MiB, ranges: [{ offset: 0, length: 1 * MiB }] }],
  });
}, 60_000);

afterEach(() => {
  env.fake.sasMode = 'ok';
  env.fake.deniedActions.clear();
});

async function failureOf(input: ExportWorkflowInput): Promise<{ type?: string; message?: string; retryState?: string }> {
  const err = await env.client.workflow
    .execute(EXPORT_WORKFLOW_TYPE, { taskQueue: env.config.temporal.taskQueue, workflowId: input.jobId, args: [input] })
    .then(() => undefined, (e: unknown) => e as WorkflowFailedError);
  expect(err).toBeDefined();
  const top = err?.cause as { type?: string; message?: string; cause?: { retryState?: string } } | undefined;
  return { ...(top?.type ? { type: top.type } : {}), ...(top?.message ? { message: top.message } : {}), ...(top?.cause?.retryState ? { retryState: top.cause.retryState } : {}) };
}

function input(name: string, vmPath = vm.vmId): ExportWorkflowInput {
  const dir = join(root(), name);
  mkdirSync(dir, { recursive: true });
  return azureExportInput(`${name}-${Date.now()}`, vmPath, dir);
}

it.each([
  { mode: 'wrong-blob', why: 'signed for another blob' },
  { mode: 'write-only', why: 'without read permission' },
] as const)('fails at once with SourceRefused when the blob answers 403 to a SAS $why, and still removes its snapshot', async ({ mode }) => {
  env.fake.sasMode = mode;
  const job = input(`refused-sas-${mode}`);
  const failure = await failureOf(job);
  expect(failure.type).toBe('SourceRefused');
  expect(failure.message).toMatch(/refused \(403/);
  expect(failure.message).toContain('the access was revoked, or the SAS is for another blob or not for reading');
  expect(failure.message).toContain('hypersdk-export-');
  // No SAS (its signature) in what the job says.
  expect(failure.message).not.toMatch(/sig=|se=|sp=/);
  expect(failure.retryState).toBe('NON_RETRYABLE_FAILURE');
  // One grant: the refusal was not retried.
  const tag = `hypersdk-export-${job.jobId}`;
  expect(env.fake.snapshotsTagged(tag)).toEqual([]);
  expect(env.fake.deletedTagged(tag).map((s) => [s.grants, s.revokes, s.accessActive])).toEqual([[1, 1, false]]);
}, 60_000);

it('fails at once naming the RBAC action when the identity may not snapshot the disks', async () => {
  env.fake.deniedActions.add('Microsoft.Compute/snapshots/write');
  const failure = await failureOf(input('refused-snapshot'));
  expect(failure.type).toBe('SourceRefused');
  expect(failure.message).toContain('Microsoft.Compute/snapshots/write');
  expect(failure.message).toContain('AuthorizationFailed');
  expect(failure.retryState).toBe('NON_RETRYABLE_FAILURE');
}, 60_000);

it.each([
  { form: 'a name in the resource group', path: 'ghost', group: 'rg-refused' },
  { form: 'a resource id', path: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-refused/providers/Microsoft.Compute/virtualMachines/ghost`, group: undefined },
])('fails with VmNotFound naming the VM when $form names none', async ({ path, group }) => {
  const job = input('missing');
  const failure = await failureOf({ ...job, vmPath: path, source: { provider: 'azure', subscriptionId: SUBSCRIPTION, ...(group ? { resourceGroup: group } : {}) } });
  expect(failure.type).toBe('VmNotFound');
  expect(failure.message).toContain('VM "ghost" in resource group rg-refused not found');
  expect(failure.retryState).toBe('NON_RETRYABLE_FAILURE');
}, 60_000);
