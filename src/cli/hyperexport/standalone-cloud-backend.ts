// hyperexport -provider aws or azure without a daemon: the EC2 instances of a
// region, or the VMs of a subscription, read with this process's own cloud
// credentials (the standard AWS or Azure chain, as a worker's), and exported on
// the standalone engine. Requests are resolved as the gateway resolves them, so
// a VM named here is the VM a daemon would export.
import { awsProviderCache, azureProviderCache, connectAzureLazily, type CloudProviderCache } from '../../api/cloud-providers.js';
import type { AwsTarget, AzureTarget } from '../../api/deps.js';
import { HttpError } from '../../api/http-error.js';
import { vmDescriptionView, vmSummaryView } from '../../api/vm-views.js';
import { awsTargetOf, awsVmOf, azureTargetOf, azureVmOf, parseVmRequest } from '../../api/vm-requests.js';
import type { HyperConfig } from '../../config/types.js';
import { ErrorType } from '../../core/errors.js';
import type { SourceProvider } from '../../core/source-provider.js';
import type { Job } from '../../jobs/job-schemas.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CloudSourceFlags, ExportBackend, ExportRequest, VmInfo, VmRow } from './backend.js';
import { loadStandaloneConfig, type StandaloneOptions } from './standalone-config.js';
import { StandaloneEngine } from './standalone-engine.js';

/** How each cloud's platform is named in messages. */
const PLATFORM = { aws: 'AWS', azure: 'Azure' } as const;

export class CloudStandaloneBackend implements ExportBackend {
  readonly label: string;
  readonly picksOutput = false;
  private readonly engine: StandaloneEngine;
  /** Opened on first use, as the gateway's are (the AWS chain's default: its own lazily loaded provider). */
  private readonly aws = awsProviderCache();
  private readonly azure: CloudProviderCache<AzureTarget>;

  private constructor(
    private readonly config: HyperConfig,
    private readonly cloud: CloudSourceFlags,
    options: StandaloneOptions,
  ) {
    this.engine = new StandaloneEngine(config, (text) => options.note(text));
    this.azure = azureProviderCache(connectAzureLazily(config));
    let target: Target | undefined;
    try {
      target = this.listTarget();
    } catch {
      // No default region or subscription: a -vm may still name its own.
    }
    this.label = `standalone mode (${target ? where(target) : PLATFORM[cloud.provider]})`;
  }

  static async open(cloud: CloudSourceFlags, options: StandaloneOptions): Promise<CloudStandaloneBackend> {
    return new CloudStandaloneBackend(await loadStandaloneConfig(options), cloud, options);
  }

  async listVms(): Promise<VmRow[]> {
    const target = this.listTarget();
    const vms = await this.withProvider(target, (p) => p.listVms());
    return vms.map(vmSummaryView);
  }

  async describeVm(vmPath: string): Promise<VmInfo> {
    const { target, ref } = this.vmOf(vmPath);
    return vmDescriptionView(await this.withProvider(target, (p) => p.describeVm(ref)));
  }

  async submit(request: ExportRequest): Promise<string> {
    // Where the VM is read from must be known before anything starts (a usage error, as in describeVm).
    this.vmOf(request.vm_path);
    const source = this.cloud.fields;
    return await this.engine.submit(request, { provider: this.cloud.provider, ...(Object.keys(source).length ? { source } : {}) });
  }

  job(id: string): Promise<Job> {
    return this.engine.job(id);
  }

  cancel(ids: readonly string[]): Promise<string[]> {
    return this.engine.cancel(ids);
  }

  async close(): Promise<void> {
    await this.engine.close();
    await Promise.all([this.aws.close(), this.azure.close()]);
  }

  /** The VM a -vm names and where it is read from, as the gateway resolves it. */
  private vmOf(vmPath: string): { target: Target; ref: string } {
    return this.resolved(() => {
      const request = parseVmRequest({ vm_path: vmPath, provider: this.cloud.provider, ...this.cloud.fields });
      return this.cloud.provider === 'aws' ? tagged(awsVmOf(this.config, request)) : tagged(azureVmOf(this.config, request));
    });
  }

  /** Where a listing reads: the flags' region or subscription, else this configuration's. */
  private listTarget(): Target {
    return this.resolved(() =>
      this.cloud.provider === 'aws'
        ? { cloud: 'aws', target: awsTargetOf(this.config, this.cloud.fields) }
        : { cloud: 'azure', target: azureTargetOf(this.config, this.cloud.fields) },
    );
  }

  /** A request the gateway would refuse (400) is a usage error here, in the words of the flags. */
  private resolved<T>(resolve: () => T): T {
    try {
      return resolve();
    } catch (err) {
      if (err instanceof HttpError) throw new CliError(inFlagWords(err.message), ExitCode.Usage);
      throw err;
    }
  }

  private async withProvider<T>(target: Target, work: (provider: SourceProvider) => Promise<T>): Promise<T> {
    const provider = target.cloud === 'aws' ? this.aws.get(target.target) : this.azure.get(target.target);
    try {
      return await work(await provider);
    } catch (err) {
      throw cloudError(err, target.cloud);
    }
  }
}

type Target = { cloud: 'aws'; target: AwsTarget } | { cloud: 'azure'; target: AzureTarget };

function tagged(resolved: { target: AwsTarget | AzureTarget; ref: string }): { target: Target; ref: string } {
  return 'region' in resolved.target
    ? { target: { cloud: 'aws', target: resolved.target }, ref: resolved.ref }
    : { target: { cloud: 'azure', target: resolved.target }, ref: resolved.ref };
}

/** The request fields the gateway's refusals name, as hyperexport's flags. */
const FLAG_OF: Record<string, string> = { region: '-region', subscription_id: '-subscription', resource_group: '-resource-group', vm_path: '-vm' };

/** A gateway refusal ("region: is required ... in the daemon's configuration") said of this run's flags and configuration. */
export function inFlagWords(message: string): string {
  return message
    .replace(/(?<![\w.])(region|subscription_id|resource_group|vm_path)(?![\w.])/g, (field) => FLAG_OF[field] ?? field)
    .replace(/the daemon's/g, "this process's");
}

/** "AWS us-east-1", "Azure subscription … resource group …". */
function where(target: Target): string {
  if (target.cloud === 'aws') return `AWS ${target.target.region}`;
  const group = target.target.resourceGroup ? ` resource group ${target.target.resourceGroup}` : '';
  return `Azure subscription ${target.target.subscriptionId}${group}`;
}

/**
 * Cloud failures as CLI errors: refused credentials or a missing permission is
 * exit 4, a missing VM or another refusal with a failure type is 1, and anything
 * untyped (no answer, DNS, TLS) means the cloud was not reached: 3.
 */
export function cloudError(err: unknown, cloud: 'aws' | 'azure'): CliError {
  if (err instanceof CliError) return err;
  const e = err as { type?: unknown; message?: unknown };
  const type = typeof e.type === 'string' ? e.type : undefined;
  const platform = PLATFORM[cloud];
  // The providers speak of the worker, which here is this process.
  const message = (typeof e.message === 'string' ? e.message : String(err)).replace(/the worker's/g, "this process's");
  const said = message.startsWith(platform) ? message : `${platform}: ${message}`;
  if (type === ErrorType.VmNotFound) return new CliError(`${said}; run 'hyperexport -provider ${cloud} -standalone' in a terminal to list them`, ExitCode.Failed);
  if (type === ErrorType.AuthenticationFailed || type === ErrorType.SourceRefused) {
    const chain = cloud === 'aws' ? 'AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' : 'AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret or certificate, or az login';
    return new CliError(`${said} (${chain})`, ExitCode.Unauthorized);
  }
  return new CliError(said, type ? ExitCode.Failed : ExitCode.Unreachable);
}
