// The shapes of Azure names and ids the gateway checks before a job reaches a
// worker (and the worker again where it parses them): a subscription is a GUID, a
// resource group 1-90 characters of letters, digits, _ - . ( ) not ending in ".",
// a VM name 1-64 characters of letters, digits, _ - . (Azure allows fewer for
// Windows; the service refuses what it does not hold).
export const SUBSCRIPTION_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const RESOURCE_GROUP = /^[-\w.()]{0,89}[-\w()]$/;
export const VM_NAME = /^[\w][-\w.]{0,63}$/;

export const SUBSCRIPTION_SHAPE = 'a subscription id (a GUID such as 0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10)';
export const RESOURCE_GROUP_SHAPE = 'a resource group name: 1-90 letters, digits, _ - . ( ), not ending in "."';

/** A VM's full resource id, as Resource Manager and the Azure portal show it. */
export interface VmResourceId {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const VM_RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+)\/?$/i;

/** The parts of a VM resource id, or undefined when `path` is not one (or a part is malformed). */
export function parseVmResourceId(path: string): VmResourceId | undefined {
  const m = VM_RESOURCE_ID.exec(path);
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, name] = m as unknown as [string, string, string, string];
  if (!SUBSCRIPTION_ID.test(subscriptionId) || !RESOURCE_GROUP.test(resourceGroup) || !VM_NAME.test(name)) return undefined;
  return { subscriptionId, resourceGroup, name };
}

export function vmResourceId(id: VmResourceId): string {
  return `/subscriptions/${id.subscriptionId}/resourceGroups/${id.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${id.name}`;
}
