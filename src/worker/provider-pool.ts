// One connected provider session per credential source, shared by every activity
// on this worker. Any worker can serve any activity: the session is (re)built from
// the worker's own configuration on first use, so nothing secret crosses Temporal.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { findProfile } from '../config/profiles.js';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import { vcenterRefusal } from '../config/worker-rules.js';
import { isAwsSource, isAzureSource, type AzureSourceRef, type SourceRef } from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import type { SourceProvider } from '../core/source-provider.js';
import type { AwsConnectOptions } from '../providers/aws/index.js';
import type { AzureConnectOptions } from '../providers/azure/index.js';

export type ProviderConnector = (profile: VsphereProfile) => Promise<SourceProvider>;
/** Connects to an AWS region with this worker's own AWS credential chain. */
export type AwsConnector = (options: AwsConnectOptions) => Promise<SourceProvider>;
/** Connects to an Azure subscription with this worker's own Azure credential chain. */
export type AzureConnector = (options: AzureConnectOptions) => Promise<SourceProvider>;

// The cloud SDKs are loaded when a job first reads that cloud: a worker that only
// exports from vSphere never pays for them (the AWS clients and Azure's SDKs add
// about 88 and 39 MB of RSS when imported).
const connectAwsLazily: AwsConnector = async (options) => (await import('../providers/aws/index.js')).connectAws(options);
const connectAzureLazily: AzureConnector = async (options) => (await import('../providers/azure/index.js')).connectAzure(options);

export interface ProviderPoolOptions {
  profiles: Record<string, VsphereProfile>;
  defaultProfile: string;
  connect: ProviderConnector;
  /** AWS sources (default: connectAws, the worker's standard AWS chain and endpoints). */
  connectAws?: AwsConnector;
  /** Azure sources (default: connectAzure, the worker's standard Azure chain). */
  connectAzure?: AzureConnector;
  /** The worker's azure section: Resource Manager endpoint and extra CA, default subscription and resource group. */
  azure?: HyperConfig['azure'];
  /**
   * Where inline credentials may go (vsphere.allowed_hosts, default the profiles'
   * hosts; https only unless vsphere.allow_insecure_http and the job says insecure).
   * Absent: the profiles' hosts, https only.
   */
  vsphereRules?: Pick<HyperConfig['vsphere'], 'allowedHosts' | 'allowInsecureHttp'>;
  /**
   * Opens gateway-sealed inline credentials for the job `jobId` (they open only in
   * the job they were sealed for); throws when they cannot be opened.
   */
  openSealed: (sealed: string, jobId: string) => VsphereProfile;
  /** The job (workflow id) of the activity being served; default: the current activity's. */
  currentJobId?: () => string | undefined;
}

function activityJobId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.workflowId;
  } catch {
    return undefined; // not inside an activity
  }
}

export class ProviderPool {
  private readonly sessions = new Map<string, Promise<SourceProvider>>();

  constructor(private readonly options: ProviderPoolOptions) {}

  get(source: SourceRef): Promise<SourceProvider> {
    const key = this.keyOf(source);
    let session = this.sessions.get(key);
    if (!session) {
      session = isAwsSource(source)
        ? (this.options.connectAws ?? connectAwsLazily)({ region: source.region, ...(source.profile ? { profile: source.profile } : {}) })
        : isAzureSource(source)
          ? (this.options.connectAzure ?? connectAzureLazily)(this.azureOptions(source))
          : this.options.connect(this.profileOf(source));
      this.sessions.set(key, session);
      // A failed login must not stay cached: the next attempt logs in again.
      session.catch(() => this.sessions.delete(key));
    }
    return session;
  }

  /** The credentials/TLS policy a source resolves to (never logged). */
  profile(source: SourceRef): VsphereProfile {
    return this.profileOf(source);
  }

  /** Drops (and logs out) a session, e.g. after inline credentials are no longer needed. */
  async release(source: SourceRef): Promise<void> {
    const key = this.keyOf(source);
    const session = this.sessions.get(key);
    this.sessions.delete(key);
    if (session) await session.then((p) => p.logout()).catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map((s) => s.then((p) => p.logout())));
  }

  private keyOf(source: SourceRef): string {
    // The worker's own AWS credentials: one client set per region and profile.
    if (isAwsSource(source)) return `aws:${source.region}:${source.profile ?? ''}`;
    if (isAzureSource(source)) {
      const o = this.azureOptions(source);
      return `azure:${o.subscriptionId}:${o.resourceGroup ?? ''}`;
    }
    if (source.sealedCredentials) {
      // Per job too: a session opened for one job is never handed to another job
      // that carries a copy of the same blob (it would skip the job check).
      const job = this.jobId() ?? '';
      return `sealed:${createHash('sha256').update(job).update('\0').update(source.sealedCredentials).digest('hex')}`;
    }
    return `profile:${source.profile ?? this.options.defaultProfile}`;
  }

  /** The subscription and resource group a source names (else the worker's defaults), with the worker's endpoint and CA. */
  private azureOptions(source: AzureSourceRef): AzureConnectOptions {
    const azure = this.options.azure;
    const resourceGroup = source.resourceGroup ?? azure?.resourceGroup;
    return {
      subscriptionId: source.subscriptionId || (azure?.subscriptionId ?? ''),
      ...(resourceGroup ? { resourceGroup } : {}),
      ...(azure?.resourceManagerEndpoint ? { resourceManagerEndpoint: azure.resourceManagerEndpoint } : {}),
      ...(azure?.caFile ? { caFile: azure.caFile } : {}),
    };
  }

  private jobId(): string | undefined {
    return (this.options.currentJobId ?? activityJobId)();
  }

  private profileOf(source: SourceRef): VsphereProfile {
    if (isAwsSource(source)) {
      throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `an AWS source (${source.region}) has no vSphere profile`, nonRetryable: true });
    }
    if (isAzureSource(source)) {
      throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `an Azure source (subscription ${source.subscriptionId}) has no vSphere profile`, nonRetryable: true });
    }
    if (source.sealedCredentials) {
      const jobId = this.jobId();
      if (!jobId) {
        throw ApplicationFailure.create({
          type: ErrorType.CredentialsNotForJob,
          message:
            'inline credentials are opened only inside the job they were sealed for, and no job is running here',
          nonRetryable: true,
        });
      }
      let inline: VsphereProfile;
      try {
        inline = this.options.openSealed(source.sealedCredentials, jobId);
      } catch (err) {
        const problem = (err as { problem?: unknown }).problem;
        if (problem === 'other-job' || problem === 'unbound') {
          throw ApplicationFailure.create({
            type: ErrorType.CredentialsNotForJob,
            message: `inline credentials refused: ${(err as Error).message}`,
            nonRetryable: true,
          });
        }
        throw ApplicationFailure.create({
          type: ErrorType.ProfileNotFound,
          message: `inline credentials could not be opened on this worker (${(err as Error).message}); gateway and workers must share secrets_key`,
          nonRetryable: true,
        });
      }
      // Checked before any connection: the password goes nowhere this worker's configuration does not name.
      const refusal = vcenterRefusal({ ...this.options.vsphereRules, profiles: this.options.profiles }, inline);
      if (refusal) throw ApplicationFailure.create({ type: ErrorType.VcenterNotAllowed, message: refusal, nonRetryable: true });
      return inline;
    }
    const name = source.profile ?? this.options.defaultProfile;
    const profile = findProfile(this.options.profiles, name);
    if (!profile) {
      const known = Object.keys(this.options.profiles);
      throw ApplicationFailure.create({
        type: ErrorType.ProfileNotFound,
        message: `no vSphere profile "${name}" in this worker's configuration (known: ${known.length ? known.join(', ') : 'none'}); set GOVC_URL/GOVC_USERNAME/GOVC_PASSWORD or add it under vsphere.profiles`,
        nonRetryable: true,
      });
    }
    return profile;
  }
}
