// /vms/*: discovery through the vSphere provider, and the VM operations
// (vm-operations.ts). Providers are cached per profile (they re-login by
// themselves); a failed connection is not cached.
import type { Client } from '@temporalio/client';
import { Hono } from 'hono';
import type { HyperConfig, VsphereProfile } from '../../config/types.js';
import type { SourceProvider } from '../../core/source-provider.js';
import type { VmSummary } from '../../core/vm-description.js';
import { readBody } from '../body.js';
import type { ProviderFactory } from '../deps.js';
import { badRequest, HttpError, now } from '../http-error.js';
import { findProfile } from '../../config/profiles.js';
import { VM_OPERATIONS } from '../../core/vm-operation-contract.js';
import { inlineCredentials, parseVmListRequest, parseVmRequest, type VmRequest } from '../vm-requests.js';
import { vmDescriptionView as description, vmInfoView as info, vmSummaryView as summary } from '../vm-views.js';
import { vmOperationHandler } from './vm-operations.js';

export class ProviderCache {
  private readonly providers = new Map<string, Promise<SourceProvider>>();
  constructor(private readonly factory: ProviderFactory) {}

  get(name: string, profile: VsphereProfile): Promise<SourceProvider> {
    let provider = this.providers.get(name);
    if (!provider) {
      provider = this.factory(profile);
      this.providers.set(name, provider);
      provider.catch(() => this.providers.delete(name));
    }
    return provider;
  }

  /** A session of its own (inline credentials): not cached, the caller logs it out. */
  connect(profile: VsphereProfile): Promise<SourceProvider> {
    return this.factory(profile);
  }

  async close(): Promise<void> {
    const all = [...this.providers.values()];
    this.providers.clear();
    await Promise.allSettled(all.map(async (p) => (await p).logout()));
  }
}

/** Provider failures as HTTP: a missing VM is 404, anything from vCenter is 502. */
function providerError(err: unknown): HttpError {
  const e = err as { type?: unknown; name?: unknown; message?: unknown };
  const type = typeof e.type === 'string' ? e.type : typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : 'vCenter request failed';
  if (type === 'VmNotFound') return new HttpError(404, message, { error_type: type });
  return new HttpError(502, `vCenter: ${message}`, type ? { error_type: type } : {});
}

export function vmRoutes(config: HyperConfig, cache: ProviderCache, temporal: Client): Hono {
  const app = new Hono();

  const providerFor = (name: string | undefined, field: string) => {
    const profileName = name ?? config.vsphere.defaultProfile;
    const profile = findProfile(config.vsphere.profiles, profileName);
    if (!profile) {
      const known = Object.keys(config.vsphere.profiles);
      throw badRequest(field, known.length ? `unknown vCenter profile "${profileName}" (configured: ${known.join(', ')})` : 'no vCenter is configured (set GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD)');
    }
    return cache.get(profileName, profile);
  };

  /**
   * Runs `work` on the vCenter a request names: its inline credentials (a session
   * of its own, logged out after) or a configured profile (cached session).
   */
  const withProvider = async <T>(request: Pick<VmRequest, 'profile' | 'vcenter'>, work: (p: SourceProvider) => Promise<T>): Promise<T> => {
    const inline = inlineCredentials(config, request.vcenter);
    if (!inline) {
      const provider = providerFor(request.profile, 'profile');
      try {
        return await work(await provider);
      } catch (err) {
        throw providerError(err);
      }
    }
    let provider: SourceProvider | undefined;
    try {
      provider = await cache.connect(inline.profile);
      return await work(provider);
    } catch (err) {
      throw providerError(err);
    } finally {
      await provider?.logout().catch(() => undefined);
    }
  };

  const list = async (request: Pick<VmRequest, 'profile' | 'vcenter'>) => {
    const vms: VmSummary[] = await withProvider(request, (p) => p.listVms());
    return { vms: vms.map(summary), total: vms.length, timestamp: now() };
  };
  app.get('/list', async (c) => c.json(await list({ ...(c.req.query('profile') ? { profile: c.req.query('profile') } : {}) })));
  // The Python SDK POSTs its vCenter config; the original's hyperctl GETs.
  app.post('/list', async (c) => c.json(await list(parseVmListRequest(await readBody(c)))));

  app.post('/info', async (c) => {
    const request = parseVmRequest(await readBody(c));
    const vm = await withProvider(request, (p) => p.describeVm(request.vm_path));
    // vm_info: the original's VMInfo keys; vm: the full description (hyperctl describe).
    return c.json({ success: true as const, vm_info: info(vm), vm: description(vm), timestamp: now() });
  });

  for (const operation of VM_OPERATIONS) app.post(`/${operation}`, vmOperationHandler(config, temporal, operation));

  return app;
}
