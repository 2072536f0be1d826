// /vms/*: discovery through the vSphere provider, or with provider aws through the
// AWS provider of a region (list and info), and the VM operations (vm-operations.ts,
// vSphere only). Providers are cached per profile, AWS ones per region and profile
// (they re-login by themselves); a failed connection is not cached.
import type { Client } from '@temporalio/client';
import { Hono } from 'hono';
import type { HyperConfig, VsphereProfile } from '../../config/types.js';
import type { SourceProvider } from '../../core/source-provider.js';
import type { VmSummary } from '../../core/vm-description.js';
import type { CloudProviderCache } from '../cloud-providers.js';
import { readBody } from '../body.js';
import type { AwsTarget, AzureTarget, ProviderFactory } from '../deps.js';
import { badRequest, HttpError, now } from '../http-error.js';
import { findProfile } from '../../config/profiles.js';
import { VM_OPERATIONS } from '../../core/vm-operation-contract.js';
import { awsTargetOf, awsVmOf, azureTargetOf, azureVmOf, inlineCredentials, parseVmListRequest, parseVmRequest, type VmListRequest, type VmRequest } from '../vm-requests.js';
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

/** AWS errors that mean the region itself is wrong for this account: the client's to fix (400 naming region). */
const AWS_REGION_ERRORS = new Set(['InvalidRegion', 'UnknownRegion', 'OptInRequired']);

/**
 * Provider failures as HTTP: a missing VM is 404, a region AWS refuses is 400,
 * anything else from the platform (vCenter, AWS or Azure, named in the message) is 502.
 */
function providerError(err: unknown, platform: 'vCenter' | 'AWS' | 'Azure'): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { type?: unknown; name?: unknown; code?: unknown; message?: unknown; details?: unknown };
  const type = typeof e.type === 'string' ? e.type : typeof e.name === 'string' ? e.name : '';
  // The AWS provider keeps AWS's own error code in the failure's details.
  const detail: unknown = Array.isArray(e.details) ? e.details[0] : undefined;
  const awsCode = typeof (detail as { awsCode?: unknown } | undefined)?.awsCode === 'string' ? (detail as { awsCode: string }).awsCode : '';
  const code = awsCode || (typeof e.code === 'string' ? e.code : '');
  const message = typeof e.message === 'string' ? e.message : `${platform} request failed`;
  if (type === 'VmNotFound') return new HttpError(404, message, { error_type: type });
  if (platform === 'AWS' && (AWS_REGION_ERRORS.has(type) || AWS_REGION_ERRORS.has(code))) {
    return new HttpError(400, `region: AWS refused the region: ${message}`, { field: 'region', error_type: type || code });
  }
  // The AWS provider's messages already begin with "AWS <region>:".
  const said = message.startsWith(platform) ? message : `${platform}: ${message}`;
  return new HttpError(502, said, type ? { error_type: type } : {});
}

export interface CloudCaches {
  aws: CloudProviderCache<AwsTarget>;
  azure: CloudProviderCache<AzureTarget>;
}

export function vmRoutes(config: HyperConfig, cache: ProviderCache, clouds: CloudCaches, temporal: Client): Hono {
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
        throw providerError(err, 'vCenter');
      }
    }
    let provider: SourceProvider | undefined;
    try {
      provider = await cache.connect(inline.profile);
      return await work(provider);
    } catch (err) {
      throw providerError(err, 'vCenter');
    } finally {
      await provider?.logout().catch(() => undefined);
    }
  };

  /** Runs `work` on the AWS provider of a region (cached per region and profile). */
  const withAws = async <T>(target: AwsTarget, work: (p: SourceProvider) => Promise<T>): Promise<T> => {
    try {
      return await work(await clouds.aws.get(target));
    } catch (err) {
      throw providerError(err, 'AWS');
    }
  };

  /** Runs `work` on the Azure provider of a subscription (cached per subscription and resource group). */
  const withAzure = async <T>(target: AzureTarget, work: (p: SourceProvider) => Promise<T>): Promise<T> => {
    try {
      return await work(await clouds.azure.get(target));
    } catch (err) {
      throw providerError(err, 'Azure');
    }
  };

  const list = async (request: VmListRequest) => {
    const vms: VmSummary[] =
      request.provider === 'aws'
        ? await withAws(awsTargetOf(config, request), (p) => p.listVms())
        : request.provider === 'azure'
          ? await withAzure(azureTargetOf(config, request), (p) => p.listVms())
          : await withProvider(request, (p) => p.listVms());
    return { vms: vms.map(summary), total: vms.length, timestamp: now() };
  };
  app.get('/list', async (c) => {
    const { provider, region, profile, subscription_id, resource_group } = c.req.query();
    const given = Object.entries({ provider, region, profile, subscription_id, resource_group }).filter(([, v]) => v !== undefined && v !== '');
    return c.json(await list(parseVmListRequest(Object.fromEntries(given))));
  });
  // The Python SDK POSTs its vCenter config; the original's hyperctl GETs.
  app.post('/list', async (c) => c.json(await list(parseVmListRequest(await readBody(c)))));

  app.post('/info', async (c) => {
    const request = parseVmRequest(await readBody(c));
    const aws = request.provider === 'aws' ? awsVmOf(config, request) : undefined;
    const azure = request.provider === 'azure' ? azureVmOf(config, request) : undefined;
    const vm = aws
      ? await withAws(aws.target, (p) => p.describeVm(aws.ref))
      : azure
        ? await withAzure(azure.target, (p) => p.describeVm(azure.ref))
        : await withProvider(request, (p) => p.describeVm(request.vm_path));
    // vm_info: the original's VMInfo keys; vm: the full description (hyperctl describe).
    return c.json({ success: true as const, vm_info: info(vm), vm: description(vm), timestamp: now() });
  });

  for (const operation of VM_OPERATIONS) app.post(`/${operation}`, vmOperationHandler(config, temporal, operation));

  return app;
}
