// AWS providers of the gateway, one per region and shared-config profile, opened
// on first use and kept (the SDK refreshes credentials by itself). A failed open
// is not kept. The regions a client may name are many (any well-formed name), so
// the cache is bounded: the least recently used provider is released.
import type { SourceProvider } from '../core/source-provider.js';
import type { AwsProviderFactory, AwsTarget } from './deps.js';

const MAX_PROVIDERS = 32;

/** The real provider, imported when first needed: a gateway that never lists AWS never loads the AWS SDK. */
export const connectAwsLazily: AwsProviderFactory = async (target) => {
  const { connectAws } = await import('../providers/aws/index.js');
  return connectAws(target);
};

export class AwsProviderCache {
  private readonly providers = new Map<string, Promise<SourceProvider>>();
  constructor(private readonly factory: AwsProviderFactory = connectAwsLazily) {}

  get(target: AwsTarget): Promise<SourceProvider> {
    const key = `${target.region}\u0000${target.profile ?? ''}`;
    let provider = this.providers.get(key);
    if (provider) {
      // Most recently used last: Map keeps insertion order.
      this.providers.delete(key);
    } else {
      provider = this.factory({ region: target.region, ...(target.profile ? { profile: target.profile } : {}) });
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
