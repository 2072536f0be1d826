// The rules of a job with provider azure: what it reads (a VM by its resource id,
// or by name in a resource group, of a subscription), what it may produce (images;
// OVF/OVA describe the VM with qcow2 disks) and the vSphere and AWS fields it
// refuses with what to use instead. Nothing secret is taken: the worker reads
// Azure with its own credential chain.
import type { HyperConfig } from '../config/types.js';
import { isAzureRefProblem, resolveAzureVm } from '../core/azure-ids.js';
import type { AzureSourceRef } from '../core/export-contract.js';
import { refuseSinceSnapshot } from './aws-job.js';
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

/** A job names its subscription and group under source. */
const JOB_FIELDS = { subscription: 'source.subscription_id', group: 'source.resource_group' };

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
  refuseSinceSnapshot(job, label, 'an Azure export');
  checkAutoMethod(job.export_method, methodField, label, 'an Azure export always reads the pages of managed-disk snapshots');
  const formats = cloudJobFormat(job.format, config.defaults.format, label, 'Azure managed disks have none');

  const given = { subscriptionId: job.source?.subscription_id, resourceGroup: job.source?.resource_group };
  const vm = resolveAzureVm(job.vm_path, given, config.azure, JOB_FIELDS);
  if (isAzureRefProblem(vm)) throw new JobRejected(`${label}${vm.field}: ${vm.message}`);
  return { source: { provider: 'azure', subscriptionId: vm.subscriptionId, resourceGroup: vm.resourceGroup }, vmRef: vm.vmRef, ...formats };
}
