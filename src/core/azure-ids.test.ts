import { describe, expect, it } from 'vitest';
import { isAzureRefProblem, parseVmResourceId, resolveAzureScope, resolveAzureVm, vmResourceId } from './azure-ids.js';

const SUB = '0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10';
const OTHER = '11111111-2222-3333-4444-555555555555';
const ID = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachines/web-01`;
const JOB = { subscription: 'source.subscription_id', group: 'source.resource_group' };
const REST = { subscription: 'subscription_id', group: 'resource_group' };

describe('parseVmResourceId', () => {
  it('reads a resource id and writes it back', () => {
    const id = parseVmResourceId(ID);
    expect(id).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-prod', name: 'web-01' });
    expect(vmResourceId(id!)).toBe(ID);
  });

  it('refuses an id whose parts are malformed', () => {
    expect(parseVmResourceId(ID.replace(SUB, 'not-a-guid'))).toBeUndefined();
    expect(parseVmResourceId(`${ID.replace('web-01', 'web 01')}`)).toBeUndefined();
  });
});

describe('resolveAzureVm', () => {
  it('takes subscription and group from a resource id, whatever the defaults say', () => {
    expect(resolveAzureVm(ID, {}, { subscriptionId: OTHER, resourceGroup: 'rg-other' }, JOB)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-prod', vmRef: ID });
  });

  it('accepts fields that agree with the id, in any case', () => {
    expect(resolveAzureVm(ID, { subscriptionId: SUB.toUpperCase(), resourceGroup: 'RG-PROD' }, undefined, REST)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-prod', vmRef: ID });
  });

  it('names the field that contradicts the id, as the caller spells it', () => {
    expect(resolveAzureVm(ID, { subscriptionId: OTHER }, undefined, JOB)).toEqual({
      field: 'vm_path',
      message: `names subscription ${SUB} but source.subscription_id is ${OTHER}: give one subscription`,
    });
    expect(resolveAzureVm(ID, { resourceGroup: 'rg-x' }, undefined, REST)).toEqual({
      field: 'vm_path',
      message: 'names resource group rg-prod but resource_group is rg-x: give one resource group',
    });
  });

  it('resolves a VM name in the given scope, else the defaults', () => {
    expect(resolveAzureVm('db-7', { subscriptionId: SUB, resourceGroup: 'rg' }, undefined, REST)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg', vmRef: 'db-7' });
    expect(resolveAzureVm('db-7', {}, { subscriptionId: SUB, resourceGroup: 'rg-default' }, REST)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-default', vmRef: 'db-7' });
    expect(resolveAzureVm('db-7', { resourceGroup: 'rg' }, { subscriptionId: SUB, resourceGroup: 'rg-default' }, REST)).toMatchObject({ resourceGroup: 'rg' });
  });

  it.each([
    ['/DC0/vm/web-01', {}, 'vm_path', /^must be a VM resource id .* or a VM name \(1-64 letters, digits, _ - \.\) with source\.resource_group$/],
    ['web 01', { subscriptionId: SUB, resourceGroup: 'rg' }, 'vm_path', /^must be a VM resource id/],
    ['db-7', { resourceGroup: 'rg' }, 'source.subscription_id', /^is required for provider azure with a VM name: give source\.subscription_id, a VM resource id as vm_path, or set azure\.subscription_id/],
    ['db-7', { subscriptionId: 'nope', resourceGroup: 'rg' }, 'source.subscription_id', /^must be a subscription id/],
    ['db-7', { subscriptionId: SUB }, 'source.resource_group', /^is required for provider azure with a VM name: give source\.resource_group, a VM resource id as vm_path, or set azure\.resource_group/],
    ['db-7', { subscriptionId: SUB, resourceGroup: 'ends.' }, 'source.resource_group', /^must be a resource group name/],
  ])('refuses %s with %o, naming %s', (vmPath, given, field, message) => {
    const r = resolveAzureVm(vmPath, given, undefined, JOB);
    expect(isAzureRefProblem(r)).toBe(true);
    expect(r).toEqual({ field, message: expect.stringMatching(message) as unknown });
  });
});

describe('resolveAzureScope', () => {
  it('lists a whole subscription when no group is given or configured', () => {
    expect(resolveAzureScope({ subscriptionId: SUB }, undefined, REST)).toEqual({ subscriptionId: SUB });
    expect(resolveAzureScope({}, { subscriptionId: SUB, resourceGroup: 'rg' }, REST)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg' });
  });

  it('asks for a subscription, pointing to the daemon default', () => {
    expect(resolveAzureScope({}, undefined, REST)).toEqual({
      field: 'subscription_id',
      message: "is required for provider azure: give subscription_id, or set azure.subscription_id (AZURE_SUBSCRIPTION_ID) in the daemon's configuration",
    });
  });
});
