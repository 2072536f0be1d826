// The rules of a job with provider azure: what it reads (a VM by its resource id,
// or by name in a resource group, of a subscription), what it may produce (images;
// OVF/OVA describe the VM with qcow2 disks) and the vSphere and AWS fields it
// refuses with what to use instead. Nothing secret is taken: the worker reads
// Azure with its own credential chain.
import type { HyperConfig } from '../config/types.js';
import { parseVmResourceId, RESOURCE_GROUP, RESOURCE_GROUP_SHAPE, SUBSCRIPTION_ID, SUBSCRIPTION_SHAPE, VM_NAME } from '../core/azure-ids.js';
import type { AzureSourceRef } from '../core/export-contract.js';
import { refuseAwsOptions } from './aws-job.js';
import { checkAutoMethod, cloudJobFormat, keepSourceKeys, refuseVsphereFields, type CloudJobFormat, type VsphereField } from './cloud-job.js';
import { JobRejected } from './job-rejected.js';
import type { JobDefinitionInput } from './submit-schemas.js';

const CREDENTIAL_CHAIN = "Azure credentials come from the worker's Azure credential chain (environment, workload or managed identity, Azure CLI)";

/** The vSphere fields an Azure job refuses, and what to use instead. */
const VSPHERE_ONLY: Record<VsphereField, string> = {
  profile: `names a vCenter profile, which does not apply to provider azure: ${CREDENTIAL_CHAIN}`,
  vcenter: `vCenter credentials do not apply to provider azure: ${CREDENTIAL_CHAIN}`,
  vcenter_url: 'a vCenter URL does not apply to provider azure: give the subscription as source.subscription_id',
  username: `vCenter credentials do not apply to provider azure: ${CREDENTIAL_CHAIN}`,
  password: `vCenter credentials do not apply to provider azure: ${CREDENTIAL_CHAIN}`,
  insecure: "applies to a vCenter's TLS certificate, not to provider azure (Azure endpoints are always verified)",
};

const VM_PATH_SHAPE =
  'a VM resource id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>) or a VM name (1-64 letters, digits, _ - .) with source.resource_group';

/** The keys of `source` an Azure job reads: others are warned about, credentials refused. */
export function normaliseAzureSource(source: unknown, label: string, warnings: string[]): unknown {
  return keepSourceKeys(source, ['subscription_id', 'resource_group'], label, warnings, `Azure credentials are never taken from a job: ${CREDENTIAL_CHAIN}`);
}

export interface AzureJobParts extends CloudJobFormat {
  source: AzureSourceRef;
  /** What the worker looks up: the VM's resource id, or its name in source.resourceGroup. */
  vmRef: string;
}

/**
 * Validates an Azure job and returns its source, reference and format. `methodField`
 * is the field the client named the method with (export_method or method).
 */
export function azureJobParts(config: HyperConfig, job: JobDefinitionInput, label: string, methodField: string): AzureJobParts {
  refuseVsphereFields(job, label, VSPHERE_ONLY);
  refuseAwsOptions(job, label, 'an Azure export', 'an Azure export always deletes the snapshots it took, and revokes their access');
  checkAutoMethod(job.export_method, methodField, label, 'an Azure export always reads the pages of managed-disk snapshots');
  const formats = cloudJobFormat(job.format, config.defaults.format, label, 'Azure managed disks have none');

  const given = job.source;
  const byId = parseVmResourceId(job.vm_path);
  if (byId) {
    // The id says where the VM is; source fields that say otherwise are a mistake.
    if (given?.subscription_id !== undefined && given.subscription_id.toLowerCase() !== byId.subscriptionId.toLowerCase()) {
      throw new JobRejected(`${label}vm_path: names subscription ${byId.subscriptionId} but source.subscription_id is ${given.subscription_id}: give one subscription`);
    }
    if (given?.resource_group !== undefined && given.resource_group.toLowerCase() !== byId.resourceGroup.toLowerCase()) {
      throw new JobRejected(`${label}vm_path: names resource group ${byId.resourceGroup} but source.resource_group is ${given.resource_group}: give one resource group`);
    }
    return { source: { provider: 'azure', subscriptionId: byId.subscriptionId, resourceGroup: byId.resourceGroup }, vmRef: job.vm_path, ...formats };
  }
  if (job.vm_path.startsWith('/') || !VM_NAME.test(job.vm_path)) throw new JobRejected(`${label}vm_path: must be ${VM_PATH_SHAPE}`);

  const subscriptionId = given?.subscription_id ?? config.azure?.subscriptionId;
  if (subscriptionId === undefined) {
    throw new JobRejected(
      `${label}source.subscription_id: is required for provider azure with a VM name: give source.subscription_id, a VM resource id as vm_path, or set azure.subscription_id (AZURE_SUBSCRIPTION_ID) in the daemon's configuration`,
    );
  }
  if (!SUBSCRIPTION_ID.test(subscriptionId)) throw new JobRejected(`${label}source.subscription_id: must be ${SUBSCRIPTION_SHAPE}`);
  const resourceGroup = given?.resource_group ?? config.azure?.resourceGroup;
  if (resourceGroup === undefined) {
    throw new JobRejected(
      `${label}source.resource_group: is required for provider azure with a VM name: give source.resource_group, a VM resource id as vm_path, or set azure.resource_group in the daemon's configuration`,
    );
  }
  if (!RESOURCE_GROUP.test(resourceGroup)) throw new JobRejected(`${label}source.resource_group: must be ${RESOURCE_GROUP_SHAPE}`);
  return { source: { provider: 'azure', subscriptionId, resourceGroup }, vmRef: job.vm_path, ...formats };
}
