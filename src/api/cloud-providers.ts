// Cloud providers of the gateway: AWS ones per region and shared-config profile,
// Azure ones per subscription and resource group, opened on first use and kept
// (the SDKs refresh credentials by themselves). A failed open is not kept. The
// targets a client may name are many (any well-formed name), so each cache is
// bounded: the least recently used provider is released.
import type { HyperConfig } from '../config/types.js';
import type { SourceProvider } from '../core/source-provider.js';
import type { AwsProviderFactory, AwsTarget, AzureProviderFactory, AzureTarget } from './deps.js';

const MAX_PROVIDERS = 32;

/** The real provider, imported when first needed: a gateway that never lists AWS never loads the AWS SDK. */
export const connectAwsLazily: AwsProviderFactory = async (target) => {
  const { connectAws } = await import('../providers/aws/index.js');
  return connectAws(target);
};

/** The real provider with the gateway's Resource Manager endpoint and CA, imported when first needed. */
export function connectAzureLazily(config: HyperConfig): AzureProviderFactory {
  return async (target) => {
    const { connectAzure } = await import('../providers/azure/index.js');
    const azure = config.azure;
    return connectAzure({
      subscriptionId: target.subscriptionId,
      ...(target.resourceGroup ? { resourceGroup: target.resourceGroup } : {}),
      ...(azure?.resourceManagerEndpoint ? { resourceManagerEndpoint: azure.resourceManagerEndpoint } : {}),
      ...(azure?.caFile ? { caFile: azure.caFile } : {}),
    });
  };
}

/** A bounded cache of one cloud's providers, keyed by what names the target. */
export class CloudProviderCache<Target> {
  private readonly providers = new Map<string, Promise<SourceProvider>>();
  constructor(
    private readonly factory: (target: Target) => Promise<SourceProvider>,
    private readonly keyOf: (target: Target) => string,
  ) {}

  get(target: Target): Promise<SourceProvider> {
    const key = this.keyOf(target);
    let provider = this.providers.get(key);
    if (provider) {
      // Most recently used last: Map keeps insertion order.
      this.providers.delete(key);
    } else {
      provider = this.factory(target);
      provider.catch(() => {
        if (this.providers.get(key) === provider) this.providers.delete(key);
      });
    }
    this.providers.set(key, provider);
    if (this.providers.size > MAX_PROVIDERS) {
      const [oldestKey, oldest] = this.providers.entries().next().value!;
      this.providers.delete(oldestKey);
      void release(oldest);
    }
    return provider;
  }

  get size(): number {
    return this.providers.size;
  }

  async close(): Promise<void> {
    const all = [...this.providers.values()];
    this.providers.clear();
    await Promise.allSettled(all.map(release));
  }
}

async function release(provider: Promise<SourceProvider>): Promise<void> {
  await (await provider.catch(() => undefined))?.logout().catch(() => undefined);
}

export function awsProviderCache(factory: AwsProviderFactory = connectAwsLazily): CloudProviderCache<AwsTarget> {
  return new CloudProviderCache(factory, (t) => `${t.region}\u0000${t.profile ?? ''}`);
}

export function azureProviderCache(factory: AzureProviderFactory): CloudProviderCache<AzureTarget> {
  return new CloudProviderCache(factory, (t) => `${t.subscriptionId.toLowerCase()}\u0000${t.resourceGroup?.toLowerCase() ?? ''}`);
}
