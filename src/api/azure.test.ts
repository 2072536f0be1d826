// The gateway's routes with provider azure, in-process (app.request): VM lists and
// descriptions reach the Azure provider of the subscription and resource group the
// request names (or the daemon's azure defaults), cached per target; every
// malformed or missing field is a 400 naming it; jobs become workflow input.
import { describe, expect, it } from 'vitest';
import type { AzureTarget } from './deps.js';
import { azureVm, fakeAwsProvider, postJson, unitGateway } from './test-support.js';

const SUB = '0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10';
const OTHER = '11111111-2222-4333-8444-555555555555';
const WEB = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachines/web-01`;

function azureGateway(env: Record<string, string> = {}) {
  const opened: AzureTarget[] = [];
  const gw = unitGateway({
    env,
    azureProviderFactory: (target) => {
      opened.push(target);
      const group = target.resourceGroup ?? 'rg-prod';
      // The fake provider finds a VM by id or name, as the real one does within its group.
      return Promise.resolve(fakeAwsProvider([azureVm(target.subscriptionId, group, 'web-01'), azureVm(target.subscriptionId, group, 'db-7')]));
    },
  });
  return { gw, opened };
}

describe('GET/POST /vms/list with provider azure', () => {
  it("lists the VMs of the subscription and resource group given, else the daemon's, one provider per target", async () => {
    const { gw: ready, opened } = azureGateway({ AZURE_SUBSCRIPTION_ID: SUB });
    const gw = await ready;
    const res = await gw.request(`/vms/list?provider=azure&resource_group=rg-prod`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { vms: { path: string; name: string }[]; total: number };
    expect(body.vms.map((v) => v.path)).toEqual([WEB, WEB.replace('web-01', 'db-7')]);
    expect(body.total).toBe(2);
    await gw.request('/vms/list', postJson({ provider: 'azure', subscription_id: OTHER }));
    await gw.request('/vms/list', postJson({ provider: 'azure', subscription_id: SUB, resource_group: 'RG-PROD' }));
    // Resource group names are case-insensitive in Azure: the same target, the cached provider.
    expect(opened).toEqual([{ subscriptionId: SUB, resourceGroup: 'rg-prod' }, { subscriptionId: OTHER }]);
  });
});

describe('POST /vms/info with provider azure', () => {
  it('describes a VM by resource id (its subscription and group), or by name in resource_group', async () => {
    const { gw: ready, opened } = azureGateway();
    const gw = await ready;
    const byId = await gw.request('/vms/info', postJson({ provider: 'azure', vm_path: WEB }));
    expect(byId.status).toBe(200);
    expect(((await byId.json()) as { vm: { name: string; provider: string } }).vm).toMatchObject({ name: 'web-01', provider: 'azure' });
    const byName = await gw.request('/vms/info', postJson({ provider: 'azure', vm_path: 'db-7', subscription_id: OTHER, resource_group: 'rg-db' }));
    expect(byName.status).toBe(200);
    expect(opened).toEqual([{ subscriptionId: SUB, resourceGroup: 'rg-prod' }, { subscriptionId: OTHER, resourceGroup: 'rg-db' }]);
    const missing = await gw.request('/vms/info', postJson({ provider: 'azure', vm_path: 'nope', subscription_id: SUB, resource_group: 'rg-prod' }));
    expect(missing.status).toBe(404);
  });

  it.each([
    ['/vms/list?provider=azure', undefined, 'subscription_id', /^subscription_id: is required for provider azure: give subscription_id, or set azure\.subscription_id/],
    ['/vms/list?provider=azure&subscription_id=prod', undefined, 'subscription_id', /^subscription_id: must be a subscription id \(a GUID/],
    [`/vms/list?provider=azure&subscription_id=${SUB}&resource_group=rg.`, undefined, 'resource_group', /^resource_group: must be a resource group name/],
    [`/vms/list?subscription_id=${SUB}`, undefined, 'subscription_id', /^subscription_id: is for provider azure/],
    ['/vms/list', { provider: 'aws', region: 'eu-west-1', resource_group: 'rg' }, 'resource_group', /^resource_group: is for provider azure/],
    ['/vms/list', { provider: 'azure', subscription_id: SUB, region: 'eu-west-1' }, 'region', /^region: is for provider aws/],
    ['/vms/list', { provider: 'azure', subscription_id: SUB, server: 'vc.example', username: 'u', password: 'hunter2' }, 'server', /^server: vCenter settings do not apply to provider azure/],
    ['/vms/info', { provider: 'azure', vm_path: 'db-7', subscription_id: SUB }, 'resource_group', /^resource_group: is required for provider azure with a VM name/],
    ['/vms/info', { provider: 'azure', vm_path: '/DC0/vm/a', subscription_id: SUB }, 'vm_path', /^vm_path: must be a VM resource id/],
    ['/vms/info', { provider: 'azure', vm_path: WEB, subscription_id: OTHER }, 'vm_path', /^vm_path: names subscription .* but subscription_id is /],
    ['/vms/info', { provider: 'azure', vm_path: WEB, profile: 'vc1' }, 'profile', /^profile: names a vCenter or AWS profile, which does not apply to provider azure/],
    ['/vms/shutdown', { provider: 'azure', vm_path: WEB }, 'provider', /^provider: \/vms\/shutdown is not supported for provider azure/],
  ])('%s %j: 400 naming %s, no provider opened', async (path, body, field, expected) => {
    const { gw: ready, opened } = azureGateway();
    const gw = await ready;
    const res = await gw.request(path, body === undefined ? undefined : postJson(body));
    const answer = (await res.json()) as { error: string; field: string };
    expect(res.status, answer.error).toBe(400);
    expect(answer.field).toBe(field);
    expect(answer.error).toMatch(expected);
    expect(answer.error).not.toContain('hunter2');
    expect(opened).toEqual([]);
  });
});

describe('POST /jobs/submit with provider azure', () => {
  it('starts the workflow with the Azure source and answers its job id; a refused job answers 200 with the reason', async () => {
    const gw = await unitGateway({ env: { AZURE_SUBSCRIPTION_ID: SUB } });
    const res = await gw.request('/jobs/submit', postJson({ provider: 'azure', vm_path: 'web-01', source: { resource_group: 'rg-prod' }, format: 'raw' }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accepted: number; job_ids: string[] };
    expect(body.accepted).toBe(1);
    const input = (gw.started.find((s) => s.options.workflowId === body.job_ids[0])!.options.args as unknown[])[0];
    expect(input).toMatchObject({ vmPath: 'web-01', format: 'raw', source: { provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-prod' } });
    const refused = await gw.request('/jobs/submit', postJson({ provider: 'azure', vm_path: 'web-01' }));
    expect(refused.status).toBe(200);
    expect(await refused.json()).toMatchObject({ accepted: 0, errors: [expect.stringMatching(/^source\.resource_group: is required for provider azure/) as unknown] });
  });
});
