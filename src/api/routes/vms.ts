// /vms/*: discovery through the vSphere provider. Providers are cached per
// profile (they re-login by themselves); a failed connection is not cached.
import { Hono } from 'hono';
import type { HyperConfig, VsphereProfile } from '../../config/types.js';
import type { SourceProvider, VmSummary } from '../../providers/types.js';
import { readBody } from '../body.js';
import type { ProviderFactory } from '../deps.js';
import { badRequest, HttpError, now } from '../http-error.js';
import { vmInfoRequestSchema } from '../schemas.js';
import { findProfile } from '../../config/profiles.js';
import { vmDescriptionView as description, vmSummaryView as summary } from '../vm-views.js';

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

export function vmRoutes(config: HyperConfig, cache: ProviderCache): Hono {
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

  app.get('/list', async (c) => {
    const provider = providerFor(c.req.query('profile'), 'profile');
    let vms: VmSummary[];
    try {
      vms = await (await provider).listVms();
    } catch (err) {
      throw providerError(err);
    }
    return c.json({ vms: vms.map(summary), total: vms.length, timestamp: now() });
  });

  app.post('/info', async (c) => {
    const raw = (await readBody(c)) ?? {};
    const body = raw as Record<string, unknown>;
    // The original accepted "path" and "name" as well.
    const normalised = typeof body === 'object' && body !== null && body.vm_path === undefined ? { ...body, vm_path: body.path ?? body.name } : body;
    const parsed = vmInfoRequestSchema.safeParse(normalised);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.map(String).join('.') || 'body';
      throw badRequest(field, field === 'vm_path' && (normalised as { vm_path?: unknown }).vm_path === undefined ? 'is required' : issue.message);
    }
    const provider = providerFor(parsed.data.profile, 'profile');
    try {
      return c.json({ vm: description(await (await provider).describeVm(parsed.data.vm_path)), timestamp: now() });
    } catch (err) {
      throw providerError(err);
    }
  });

  return app;
}
