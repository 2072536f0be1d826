// The Azure provider's entry point: connectAzure builds a SourceProvider for one
// subscription (and resource group) from the worker's standard Azure credential
// chain (nothing secret travels with a job) and its configuration's Resource
// Manager endpoint and extra CA (azure.resource_manager_endpoint, azure.ca_file).
import { ErrorType } from '../../core/errors.js';
import { createComputeClient, type AzureClientOptions } from './clients.js';
import { failure } from './errors.js';
import { isResourceGroup, isSubscriptionId } from './ids.js';
import { AzureProvider, type AzureProviderOptions } from './provider.js';

export type AzureConnectOptions = AzureProviderOptions & Omit<AzureClientOptions, 'subscriptionId'>;

/**
 * A provider for one subscription. No call is made yet: the credentials are
 * resolved, and refused (AuthenticationFailed) or short of a permission
 * (SourceRefused, naming the Azure action), on the first call that needs them.
 */
export function connectAzure(options: AzureConnectOptions): Promise<AzureProvider> {
  if (!isSubscriptionId(options.subscriptionId)) {
    return Promise.reject(failure(ErrorType.InvalidInput, `Azure: "${options.subscriptionId}" is not a subscription id (a GUID)`, true));
  }
  if (options.resourceGroup !== undefined && !isResourceGroup(options.resourceGroup)) {
    return Promise.reject(failure(ErrorType.InvalidInput, `Azure: "${options.resourceGroup}" is not a resource group name`, true));
  }
  try {
    return Promise.resolve(new AzureProvider(createComputeClient(options), options));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

export { AzureProvider, type AzureProviderOptions } from './provider.js';
export { CREATED_BY_TAG } from './snapshots.js';
export { encodeSnapshotSet, parseSnapshotSet, parseComputeId, snapshotName, vmRefOf } from './ids.js';
