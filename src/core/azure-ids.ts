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

/** Where an Azure request or job names its scope: REST takes the bare names, a job nests them under `source.`. */
export interface AzureFieldNames {
  subscription: string;
  group: string;
}

/** A field that cannot be used, and why (the caller wraps it in its own error: a 400, a rejected job). */
export interface AzureRefProblem {
  field: string;
  message: string;
}

export interface AzureScope {
  subscriptionId: string;
  resourceGroup?: string;
}

/** The daemon's defaults (azure.subscription_id, azure.resource_group). */
export interface AzureDefaults {
  subscriptionId?: string;
  resourceGroup?: string;
}

const SUBSCRIPTION_DEFAULT = 'azure.subscription_id (AZURE_SUBSCRIPTION_ID)';
const GROUP_DEFAULT = 'azure.resource_group';

/**
 * The subscription (given, else the daemon's) and resource group (given, else the
 * daemon's; absent: the whole subscription) a request lists or reads from.
 * `forVmName`: the scope of a VM named by name, whose message can point to a
 * resource id instead.
 */
export function resolveAzureScope(
  given: AzureDefaults,
  defaults: AzureDefaults | undefined,
  names: AzureFieldNames,
  forVmName = false,
): AzureScope | AzureRefProblem {
  const orId = forVmName ? ', a VM resource id as vm_path,' : ',';
  const subscriptionId = given.subscriptionId ?? defaults?.subscriptionId;
  if (subscriptionId === undefined) {
    const what = forVmName ? 'is required for provider azure with a VM name' : 'is required for provider azure';
    return { field: names.subscription, message: `${what}: give ${names.subscription}${orId} or set ${SUBSCRIPTION_DEFAULT} in the daemon's configuration` };
  }
  if (!SUBSCRIPTION_ID.test(subscriptionId)) return { field: names.subscription, message: `must be ${SUBSCRIPTION_SHAPE}` };
  const resourceGroup = given.resourceGroup ?? defaults?.resourceGroup;
  if (resourceGroup !== undefined && !RESOURCE_GROUP.test(resourceGroup)) return { field: names.group, message: `must be ${RESOURCE_GROUP_SHAPE}` };
  return { subscriptionId, ...(resourceGroup !== undefined ? { resourceGroup } : {}) };
}

export interface AzureVmRef {
  subscriptionId: string;
  resourceGroup: string;
  /** What the worker looks up: the VM's resource id, or its name in resourceGroup. */
  vmRef: string;
}

/**
 * The VM a job or a /vms/info request names: a resource id (which says its
 * subscription and group; fields that say otherwise are a mistake), or a VM name
 * in the given (else the daemon's) subscription and resource group.
 */
export function resolveAzureVm(vmPath: string, given: AzureDefaults, defaults: AzureDefaults | undefined, names: AzureFieldNames): AzureVmRef | AzureRefProblem {
  const byId = parseVmResourceId(vmPath);
  if (byId) {
    if (given.subscriptionId !== undefined && given.subscriptionId.toLowerCase() !== byId.subscriptionId.toLowerCase()) {
      return { field: 'vm_path', message: `names subscription ${byId.subscriptionId} but ${names.subscription} is ${given.subscriptionId}: give one subscription` };
    }
    if (given.resourceGroup !== undefined && given.resourceGroup.toLowerCase() !== byId.resourceGroup.toLowerCase()) {
      return { field: 'vm_path', message: `names resource group ${byId.resourceGroup} but ${names.group} is ${given.resourceGroup}: give one resource group` };
    }
    return { subscriptionId: byId.subscriptionId, resourceGroup: byId.resourceGroup, vmRef: vmPath };
  }
  if (vmPath.startsWith('/') || !VM_NAME.test(vmPath)) {
    return {
      field: 'vm_path',
      message: `must be a VM resource id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>) or a VM name (1-64 letters, digits, _ - .) with ${names.group}`,
    };
  }
  const scope = resolveAzureScope(given, defaults, names, true);
  if ('field' in scope) return scope;
  if (scope.resourceGroup === undefined) {
    return {
      field: names.group,
      message: `is required for provider azure with a VM name: give ${names.group}, a VM resource id as vm_path, or set ${GROUP_DEFAULT} in the daemon's configuration`,
    };
  }
  return { subscriptionId: scope.subscriptionId, resourceGroup: scope.resourceGroup, vmRef: vmPath };
}

export function isAzureRefProblem(r: AzureScope | AzureVmRef | AzureRefProblem): r is AzureRefProblem {
  return 'field' in r;
}
