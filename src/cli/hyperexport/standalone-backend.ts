// hyperexport without a daemon, from vCenter: credentials from the configuration
// (GOVC_* or a -config file), discovery straight from vCenter, and exports on the
// standalone engine (Temporal and a worker in this process, started lazily).
import type { Job } from '../../jobs/job-schemas.js';
import type { HyperConfig, VsphereProfile } from '../../config/types.js';
import type { VmDescription, VmSummary } from '../../core/vm-description.js';
import { connectVsphere, type VsphereProvider } from '../../providers/vsphere/index.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { ExportBackend, ExportRequest, VmInfo, VmRow } from './backend.js';
import { findProfile } from '../../config/profiles.js';
import { vmDescriptionView, vmSummaryView } from '../../api/vm-views.js';
import { redactUrl, redactUserinfo } from '../../core/redact.js';
import { loadStandaloneConfig, MissingCredentialsError, type StandaloneOptions } from './standalone-config.js';
import { StandaloneEngine } from './standalone-engine.js';

function row(vm: VmSummary): VmRow {
  return vmSummaryView(vm);
}

function info(vm: VmDescription): VmInfo {
  return vmDescriptionView(vm);
}

/** vCenter failures as CLI errors with the exit code and what to do about them. */
function vcenterError(err: unknown, configuredUrl: string): CliError {
  const e = err as { type?: unknown; message?: unknown; cause?: { code?: unknown } };
  const message = redactUserinfo(typeof e.message === 'string' ? e.message : String(err));
  const url = redactUrl(configuredUrl);
  switch (e.type) {
    case 'AuthenticationFailed':
      return new CliError(`vCenter ${url} refused the credentials: ${message}; check GOVC_USERNAME and GOVC_PASSWORD`, ExitCode.Unauthorized);
    case 'VmNotFound':
      return new CliError(`${message}; list the VMs with 'hyperexport -standalone' in a terminal or 'govc find / -type m'`, ExitCode.Failed);
    case 'TlsError':
      return new CliError(`TLS to vCenter ${url} failed: ${message}; pin it with GOVC_THUMBPRINT or, for a lab, set GOVC_INSECURE=1`, ExitCode.Unreachable);
    default:
      return new CliError(`cannot talk to vCenter at ${url}: ${message}; check GOVC_URL and that the server is reachable`, ExitCode.Unreachable);
  }
}

export class StandaloneBackend implements ExportBackend {
  readonly label: string;
  readonly picksOutput = false;
  private provider: Promise<VsphereProvider> | undefined;
  private readonly engine: StandaloneEngine;

  private constructor(
    private readonly config: HyperConfig,
    private readonly profileName: string,
    private readonly profile: VsphereProfile,
    options: StandaloneOptions,
  ) {
    this.label = `standalone mode (vCenter ${new URL(profile.url).host})`;
    this.engine = new StandaloneEngine(config, (text) => options.note(text));
  }

  static async open(options: StandaloneOptions): Promise<StandaloneBackend> {
    const config = await loadStandaloneConfig(options);
    const name = options.profile ?? config.vsphere.defaultProfile;
    const profile = findProfile(config.vsphere.profiles, name);
    if (!profile?.url || !profile.username) {
      const known = Object.keys(config.vsphere.profiles);
      if (options.profile && known.length) throw new CliError(`no vCenter profile "${options.profile}" in the configuration (configured: ${known.join(', ')})`, ExitCode.Usage);
      throw new MissingCredentialsError(
        '-standalone needs vCenter credentials: set GOVC_URL, GOVC_USERNAME and GOVC_PASSWORD (GOVC_INSECURE=1 for a self-signed lab certificate), or pass -config <file>',
        ExitCode.Usage,
      );
    }
    return new StandaloneBackend(config, name, profile, options);
  }

  private vsphere(): Promise<VsphereProvider> {
    this.provider ??= connectVsphere(this.profile).catch((err: unknown) => {
      this.provider = undefined;
      throw vcenterError(err, this.profile.url);
    });
    return this.provider;
  }

  async listVms(): Promise<VmRow[]> {
    const provider = await this.vsphere();
    try {
      return (await provider.listVms()).map(row);
    } catch (err) {
      throw vcenterError(err, this.profile.url);
    }
  }

  async describeVm(vmPath: string): Promise<VmInfo> {
    const provider = await this.vsphere();
    try {
      return info(await provider.describeVm(vmPath));
    } catch (err) {
      throw vcenterError(err, this.profile.url);
    }
  }

  submit(request: ExportRequest): Promise<string> {
    return this.engine.submit(request, { profile: this.profileName });
  }

  job(id: string): Promise<Job> {
    return this.engine.job(id);
  }

  cancel(ids: readonly string[]): Promise<string[]> {
    return this.engine.cancel(ids);
  }

  async close(): Promise<void> {
    await this.engine.close();
    const provider = this.provider;
    this.provider = undefined;
    if (provider) await (await provider.catch(() => undefined))?.logout().catch(() => undefined);
  }
}
