import type { Client } from '@temporalio/client';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import type { SourceProvider } from '../core/source-provider.js';
import type { Logger } from './http-error.js';

export type ProviderFactory = (profile: VsphereProfile) => Promise<SourceProvider>;

/** Where an AWS provider reads: a region, with the default credential chain or a shared-config profile. */
export interface AwsTarget {
  region: string;
  profile?: string;
}

export type AwsProviderFactory = (target: AwsTarget) => Promise<SourceProvider>;

/** Where an Azure provider reads: a subscription, and the resource group VM names and lists are in (absent: the whole subscription). */
export interface AzureTarget {
  subscriptionId: string;
  resourceGroup?: string;
}

export type AzureProviderFactory = (target: AzureTarget) => Promise<SourceProvider>;

export interface GatewayDeps {
  config: HyperConfig;
  temporalClient: Client;
  /** Connects to a vCenter; the gateway caches one provider per profile. */
  providerFactory: ProviderFactory;
  /**
   * Opens the AWS provider of a region (GET/POST /vms/list with provider aws); the
   * gateway caches one per region and profile. Default: the AWS provider with the
   * gateway's own AWS credential chain, loaded on first use.
   */
  awsProviderFactory?: AwsProviderFactory;
  /**
   * Opens the Azure provider of a subscription (/vms/list and /vms/info with provider
   * azure); cached per subscription and resource group. Default: the Azure provider
   * with the gateway's own Azure credential chain and azure settings, loaded on first use.
   */
  azureProviderFactory?: AzureProviderFactory;
  startedAt: Date;
  logger?: Logger;
  /** Process metrics (CPU, memory, event loop) in /metrics; off for in-process tests. */
  processMetrics?: boolean;
}
