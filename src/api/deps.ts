import type { Client } from '@temporalio/client';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import type { SourceProvider } from '../core/source-provider.js';
import type { Logger } from './http-error.js';

export type ProviderFactory = (profile: VsphereProfile) => Promise<SourceProvider>;

export interface GatewayDeps {
  config: HyperConfig;
  temporalClient: Client;
  /** Connects to a vCenter; the gateway caches one provider per profile. */
  providerFactory: ProviderFactory;
  startedAt: Date;
  logger?: Logger;
  /** Process metrics (CPU, memory, event loop) in /metrics; off for in-process tests. */
  processMetrics?: boolean;
}
