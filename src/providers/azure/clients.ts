// The Resource Manager client of one subscription, with the worker's standard Azure
// credential chain (@azure/identity's DefaultAzureCredential: environment,
// workload identity, managed identity, Azure CLI, ...): nothing secret is passed
// in, so nothing secret can leak from here.
//
// The endpoint is the configuration's (azure.resource_manager_endpoint: sovereign
// clouds, private endpoints, the tests' stand-in), and the token is asked for that
// endpoint's audience ("<endpoint>/.default"). An extra CA (azure.ca_file) is
// trusted for Resource Manager requests only, beside the usual ones; TLS is always
// verified.
import { ComputeManagementClient } from '@azure/arm-compute';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ErrorType } from '../../core/errors.js';
import { failure } from './errors.js';

export const PUBLIC_RESOURCE_MANAGER = 'https://management.azure.com';

export interface AzureClientOptions {
  subscriptionId: string;
  /** Default: Azure's public cloud. */
  resourceManagerEndpoint?: string;
  /** PEM file of CA certificates trusted for Resource Manager besides the system's. */
  caFile?: string;
  /** Default: a DefaultAzureCredential (the standard chain). */
  credential?: TokenCredential;
}

/** The endpoint as an origin: https only (a token goes there). */
export function resourceManagerOrigin(endpoint: string | undefined): string {
  let url: URL;
  try {
    url = new URL(endpoint ?? PUBLIC_RESOURCE_MANAGER);
  } catch {
    throw failure(ErrorType.InvalidInput, `azure.resource_manager_endpoint: "${endpoint}" is not a URL`, true);
  }
  if (url.protocol !== 'https:') throw failure(ErrorType.InvalidInput, `azure.resource_manager_endpoint: ${url.origin} is not https (the worker's token is sent there)`, true);
  return url.origin;
}

function extraCa(caFile: string): string[] {
  try {
    return [...rootCertificates, readFileSync(caFile, 'utf8')];
  } catch (err) {
    throw failure(ErrorType.InvalidInput, `azure.ca_file: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, true);
  }
}

export function createComputeClient(o: AzureClientOptions): ComputeManagementClient {
  const origin = resourceManagerOrigin(o.resourceManagerEndpoint);
  const credential = o.credential ?? new DefaultAzureCredential();
  return new ComputeManagementClient(credential, o.subscriptionId, {
    endpoint: origin,
    credentials: { scopes: [`${origin}/.default`] },
    ...(o.caFile ? { tlsOptions: { ca: extraCa(o.caFile) } } : {}),
    userAgentOptions: { userAgentPrefix: 'hypersdk' },
  });
}
