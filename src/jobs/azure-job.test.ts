// Jobs with provider azure, as prepareSubmit turns them into workflow input and the
// definition clients read back; every refusal names its field and what to use instead.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { prepareSubmit } from './submit.js';
import { definitionFromInput } from './temporal-jobs.js';

const SUB = '0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10';
const OTHER_SUB = '11111111-2222-4333-8444-555555555555';
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachines/web-01`;

async function configWith(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-azure-job-'));
  const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir, ...env }, persistSecretsKey: false });
  return config;
}

async function one(body: Record<string, unknown>, env: Record<string, string> = {}) {
  const result = await prepareSubmit(await configWith(env), body);
  return { job: result.jobs[0], errors: result.errors, warnings: result.warnings, rejected: result.rejected };
}

async function errorOf(body: Record<string, unknown>, env?: Record<string, string>): Promise<string> {
  const { errors, job, rejected } = await one(body, env);
  expect(job).toBeUndefined();
  expect(rejected).toBe(1);
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

describe('an Azure job', () => {
  it('by resource id becomes workflow input with the subscription and resource group it names, auto method and a qcow2 default', async () => {
    const { job, errors, warnings } = await one({ provider: 'azure', vm_path: VM_ID, output_path: 'web01', options: { power_off: true } });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    const { input, definition } = job!;
    expect(input).toMatchObject({
      vmPath: VM_ID,
      jobName: 'web-01',
      format: 'qcow2',
      method: 'auto',
      source: { provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-prod' },
      options: { powerOff: true },
    });
    expect(input.options.keepSnapshots).toBe(false);
    expect(definition).toMatchObject({ provider: 'azure', vm_path: VM_ID, source: { subscription_id: SUB, resource_group: 'rg-prod' }, format: 'qcow2', method: 'auto' });
    expect(definition).not.toHaveProperty('profile');
    expect(definitionFromInput(input)).toEqual(definition);
  });

  it('keeps its snapshots when asked (keep_snapshots), in the input and the definition', async () => {
    const { job } = await one({ provider: 'azure', vm_path: VM_ID, output_path: 'web01', options: { keep_snapshots: true } });
    expect(job!.input.options.keepSnapshots).toBe(true);
    expect(job!.definition.options.keep_snapshots).toBe(true);
    expect(definitionFromInput(job!.input)).toEqual(job!.definition);
  });

  it("by name takes source.subscription_id and resource_group, else the daemon's azure section", async () => {
    const given = await one({ provider: 'azure', vm_path: 'db-7', source: { subscription_id: OTHER_SUB, resource_group: 'rg-db' } });
    expect(given.job!.input).toMatchObject({ vmPath: 'db-7', source: { provider: 'azure', subscriptionId: OTHER_SUB, resourceGroup: 'rg-db' } });
    const defaults = await one({ provider: 'azure', vm_path: 'db-7' }, { AZURE_SUBSCRIPTION_ID: SUB });
    expect(defaults.errors).toEqual([
      "source.resource_group: is required for provider azure with a VM name: give source.resource_group, a VM resource id as vm_path, or set azure.resource_group in the daemon's configuration",
    ]);
    const config = await configWith({ AZURE_SUBSCRIPTION_ID: SUB });
    config.azure = { ...config.azure!, resourceGroup: 'rg-default' };
    const fromConfig = await prepareSubmit(config, { provider: 'azure', vm_path: 'db-7' });
    expect(fromConfig.jobs[0]!.input.source).toEqual({ provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-default' });
  });

  it('formats: raw and qcow2 as images, ovf and ova with qcow2 disks; vmdk refused naming format', async () => {
    for (const format of ['raw', 'qcow2'] as const) expect((await one({ provider: 'azure', vm_path: VM_ID, format })).job!.input.format).toBe(format);
    for (const format of ['ovf', 'ova'] as const) {
      expect((await one({ provider: 'azure', vm_path: VM_ID, format })).job!.input).toMatchObject({ format, diskImage: 'qcow2' });
    }
    expect(await errorOf({ provider: 'azure', vm_path: VM_ID, format: 'vmdk' })).toMatch(/^format: vmdk is the source's own VMDK disk files, and Azure managed disks have none/);
  });

  it.each([
    [{ vm_path: 'db-7', source: { resource_group: 'rg' } }, /^source\.subscription_id: is required for provider azure with a VM name: give source\.subscription_id, a VM resource id/],
    [{ vm_path: 'db-7', source: { subscription_id: 'prod', resource_group: 'rg' } }, /^source\.subscription_id: must be a subscription id \(a GUID/],
    [{ vm_path: 'db-7', source: { subscription_id: SUB, resource_group: 'rg.' } }, /^source\.resource_group: must be a resource group name/],
    [{ vm_path: '/DC0/vm/web-01' }, /^vm_path: must be a VM resource id \(\/subscriptions\/<id>\/resourceGroups/],
    [{ vm_path: 'web 01', source: { subscription_id: SUB, resource_group: 'rg' } }, /^vm_path: must be a VM resource id/],
    [{ vm_path: VM_ID, source: { subscription_id: OTHER_SUB } }, new RegExp(`^vm_path: names subscription ${SUB} but source\\.subscription_id is ${OTHER_SUB}: give one subscription$`)],
    [{ vm_path: VM_ID, source: { resource_group: 'rg-other' } }, /^vm_path: names resource group rg-prod but source\.resource_group is rg-other: give one resource group$/],
    [{ vm_path: VM_ID, profile: 'vc1' }, /^profile: names a vCenter profile, which does not apply to provider azure/],
    [{ vm_path: VM_ID, password: 'hunter2' }, /^password: vCenter credentials do not apply to provider azure/],
    [{ vm_path: VM_ID, export_method: 'datastore' }, /^export_method: "datastore" is a vSphere export method; an Azure export always reads the pages of managed-disk snapshots \(auto\)/],
    [{ vm_path: VM_ID, options: { since_snapshot: 'snap-0123abcd' } }, /^options\.since_snapshot: is for provider aws \(.*\); an Azure export always reads whole disks$/],
  ])('%j is refused naming the field', async (body, expected) => {
    expect(await errorOf({ provider: 'azure', ...body })).toMatch(expected);
  });

  it('refuses credentials under source (never dropped silently) without echoing them, and warns about other unknown keys', async () => {
    for (const key of ['client_secret', 'tenant_id', 'client_id', 'access_token']) {
      const error = await errorOf({ provider: 'azure', vm_path: VM_ID, source: { [key]: 'very-secret-value' } });
      expect(error).toMatch(new RegExp(`^source\\.${key}: Azure credentials are never taken from a job`));
      expect(error).not.toContain('very-secret-value');
    }
    const { job, warnings } = await one({ provider: 'azure', vm_path: VM_ID, source: { location: 'westeurope', region: 'eu-west-1' } });
    expect(job).toBeDefined();
    expect(warnings).toEqual([
      'source.location: unknown field, ignored (source takes subscription_id and resource_group)',
      'source.region: unknown field, ignored (source takes subscription_id and resource_group)',
    ]);
  });
});
