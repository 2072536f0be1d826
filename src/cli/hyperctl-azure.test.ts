// hyperctl with -provider azure, run in-process against the real gateway app served
// on loopback (its Temporal client records the workflows started): what the flags
// become in the export workflow's input, and the usage errors, with their exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azureVm, fakeAwsProvider, unitGateway, type UnitGateway } from '../api/test-support.js';
import type { AzureTarget } from '../api/deps.js';
import type { ExportWorkflowInput } from '../core/export-contract.js';
import { runHyperctl } from './hyperctl.js';
import type { CliIo } from './io.js';

const SUB = '0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10';
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachines/web-01`;

let gw: UnitGateway;
let daemon: string;
const opened: AzureTarget[] = [];

beforeAll(async () => {
  gw = await unitGateway({
    env: {},
    azureProviderFactory: (target) => {
      opened.push(target);
      return Promise.resolve(fakeAwsProvider([azureVm(target.subscriptionId, target.resourceGroup ?? 'rg-prod', 'web-01')]));
    },
  });
  daemon = await gw.listen();
});
afterAll(async () => gw?.close());

async function hyperctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env };
  const code = await runHyperctl(args, io);
  return { code, out, err };
}

function inputOf(out: string): ExportWorkflowInput {
  const id = /Job ID: (\S+)/.exec(out)?.[1];
  const started = gw.started.find((s) => s.options.workflowId === id);
  expect(started, out).toBeDefined();
  return (started!.options.args as ExportWorkflowInput[])[0]!;
}

describe('hyperctl submit -provider azure', () => {
  it('sends a VM resource id as an Azure job (Go-style flags)', async () => {
    const r = await hyperctl(['submit', '-daemon', daemon, '-provider', 'azure', '-vm', VM_ID, '-format', 'raw', '-power-off']);
    expect(r.code, r.err).toBe(0);
    expect(inputOf(r.out)).toMatchObject({
      vmPath: VM_ID,
      format: 'raw',
      method: 'auto',
      source: { provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-prod' },
      options: { powerOff: true },
    });
  });

  it('sends a VM name with -resource-group and the subscription from -subscription, else AZURE_SUBSCRIPTION_ID here', async () => {
    const flag = await hyperctl(['submit', '-daemon', daemon, '-provider', 'azure', '-vm', 'db-7', '-resource-group=rg-db', '-subscription', SUB, '-format', 'ova']);
    expect(flag.code, flag.err).toBe(0);
    expect(inputOf(flag.out)).toMatchObject({ vmPath: 'db-7', format: 'ova', diskImage: 'qcow2', source: { provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-db' } });
    const other = '11111111-2222-4333-8444-555555555555';
    const env = await hyperctl(['submit', '-daemon', daemon, '-provider', 'azure', '-vm', 'db-7', '-resource-group', 'rg-db'], { AZURE_SUBSCRIPTION_ID: other });
    expect(env.code, env.err).toBe(0);
    expect(inputOf(env.out).source).toEqual({ provider: 'azure', subscriptionId: other, resourceGroup: 'rg-db' });
  });

  it('prints what the daemon refused, naming the field (exit 1)', async () => {
    const r = await hyperctl(['submit', '-daemon', daemon, '-provider', 'azure', '-vm', 'db-7', '-resource-group', 'rg-db']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Submit rejected:\n {2}- source\.subscription_id: is required for provider azure with a VM name/);
  });

  it.each([
    [['-provider', 'azure', '-vm', 'db-7', '-subscription', 'prod'], {}, 'hyperctl: -subscription "prod" is not a subscription id (a GUID'],
    [['-provider', 'azure', '-vm', 'db-7'], { AZURE_SUBSCRIPTION_ID: 'prod' }, 'hyperctl: AZURE_SUBSCRIPTION_ID "prod" is not a subscription id'],
    [['-provider', 'azure', '-vm', 'db-7', '-resource-group', 'rg.'], {}, 'hyperctl: -resource-group "rg." is not a resource group name'],
    [['-vm', '/DC0/vm/a', '-resource-group', 'rg'], {}, 'hyperctl: -resource-group is for -provider azure: add -provider azure'],
    [['-provider', 'aws', '-vm', 'i-0abc1234', '-region', 'eu-west-1', '-subscription', SUB], {}, 'hyperctl: -subscription is for -provider azure: add -provider azure'],
    [['-provider', 'azure', '-vm', VM_ID, '-region', 'eu-west-1'], {}, 'hyperctl: -region is for -provider aws: add -provider aws'],
    [['-provider', 'azure', '-vm', VM_ID, '-profile', 'vc1'], {}, "hyperctl: -profile names a vCenter profile of the daemon; an Azure export uses the daemon's Azure credentials"],
  ])('%j is a usage error (exit 2) sending nothing', async (args, env, expected) => {
    const before = gw.started.length;
    const r = await hyperctl(['submit', '-daemon', daemon, ...args], env);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(expected);
    expect(gw.started.length).toBe(before);
  });
});

describe('hyperctl vms -provider azure', () => {
  it('lists the VMs of -subscription and -resource-group (their resource ids), and describes one', async () => {
    const list = await hyperctl(['vms', 'list', '-daemon', daemon, '-provider', 'azure', '-subscription', SUB, '-resource-group', 'rg-prod']);
    expect(list.code, list.err).toBe(0);
    expect(list.out).toContain(`${VM_ID}\tpoweredOn\t2 CPU`);
    expect(list.out).toMatch(/1 VM\(s\)\n$/);
    expect(opened.at(-1)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-prod' });
    const info = await hyperctl(['vms', 'info', '-daemon', daemon, '-provider', 'azure', '-vm', VM_ID, '-json']);
    expect(info.code, info.err).toBe(0);
    expect((JSON.parse(info.out) as { vm: { name: string } }).vm.name).toBe('web-01');
  });

  it('refuses -profile and another provider\'s flags (exit 2), asking nothing', async () => {
    const before = opened.length;
    const profile = await hyperctl(['vms', 'list', '-daemon', daemon, '-provider', 'azure', '-profile', 'vc1']);
    expect(profile.code).toBe(2);
    expect(profile.err).toContain("-profile names a vCenter profile of the daemon; Azure is read with the daemon's Azure credentials");
    const region = await hyperctl(['vms', 'list', '-daemon', daemon, '-provider', 'azure', '-region', 'eu-west-1']);
    expect(region.code).toBe(2);
    expect(region.err).toContain('-region is for -provider aws');
    expect(opened.length).toBe(before);
  });
});
