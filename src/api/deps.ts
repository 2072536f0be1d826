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
  startedAt: Date;
  logger?: Logger;
  /** Process metrics (CPU, memory, event loop) in /metrics; off for in-process tests. */
  processMetrics?: boolean;
}
