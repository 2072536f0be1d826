// The flags that pick the source platform, shared by hyperctl's submit and vms and
// by hyperexport: -provider vsphere|aws|azure; for AWS -region, -aws-profile,
// -keep-snapshots and -since-snapshot; for Azure -subscription and -resource-group.
// Cloud credentials are never a flag: the daemon's workers read AWS and Azure with
// their own credential chains. -aws-profile, not -profile: -profile already names a
// vCenter profile of the daemon (the original's meaning).
import { Option } from 'commander';
import { awsProfileProblem, awsRegionProblem } from '../../config/aws-region.js';
import { SINCE_SNAPSHOT } from '../../core/aws-ids.js';
import { RESOURCE_GROUP, RESOURCE_GROUP_SHAPE, SUBSCRIPTION_ID, SUBSCRIPTION_SHAPE } from '../../core/azure-ids.js';
import { SINCE_SNAPSHOT_SHAPE } from '../../jobs/submit-schemas.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';

export const PROVIDERS = ['vsphere', 'aws', 'azure'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ProviderFlags {
  provider?: Provider;
  region?: string;
  awsProfile?: string;
  keepSnapshots?: boolean;
  sinceSnapshot?: string;
  subscription?: string;
  resourceGroup?: string;
}

/** -provider, whose refusal of any other value lists both (commander's choices). */
export function providerOption(): Option {
  return new Option('--provider <name>', 'source platform: vsphere (default), aws or azure').choices(PROVIDERS);
}

export const REGION_HELP = 'provider aws: the AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION here, else the daemon\'s aws.region)';
export const AWS_PROFILE_HELP = "provider aws: a profile of the daemon's shared AWS config (default: its AWS credential chain)";
export const KEEP_SNAPSHOTS_HELP = 'providers aws and azure: keep the snapshots the export took (default: deleted at the end); the result names them (kept snapshot)';
export const SINCE_SNAPSHOT_HELP =
  "provider aws: an incremental export: read only the blocks changed since an earlier export's kept snapshot (vol-...=snap-...,...; or one snap-... of a one-disk source), laid over that export's raw/qcow2/vhd images (or those inside its OVA) in the same output (a directory or s3://), which the new images replace";

/**
 * The region to send: -region, else this process's AWS_REGION / AWS_DEFAULT_REGION,
 * else none (the daemon's aws.region applies). A malformed one is a usage error
 * naming where it came from.
 */
export function regionToSend(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = ['AWS_REGION', 'AWS_DEFAULT_REGION'].find((name) => env[name]?.trim());
  const [region, source] = flag !== undefined ? [flag, '-region'] : fromEnv ? [env[fromEnv]!.trim(), fromEnv] : [undefined, ''];
  if (region === undefined) return undefined;
  const problem = awsRegionProblem(region);
  if (problem) throw new CliError(`${source} ${problem}${source === '-region' ? '' : '; give -region'}`, ExitCode.Usage);
  return region;
}

/** One provider's flags given without -provider for it would be silently dropped: a usage error instead. */
export function refuseForeignFlags(flags: ProviderFlags): void {
  const own: Record<Exclude<Provider, 'vsphere'>, string[]> = {
    aws: [
      flags.region !== undefined ? '-region' : '',
      flags.awsProfile !== undefined ? '-aws-profile' : '',
      flags.sinceSnapshot !== undefined ? '-since-snapshot' : '',
    ].filter(Boolean),
    azure: [flags.subscription !== undefined ? '-subscription' : '', flags.resourceGroup !== undefined ? '-resource-group' : ''].filter(Boolean),
  };
  for (const [provider, given] of Object.entries(own)) {
    if (flags.provider === provider || given.length === 0) continue;
    throw new CliError(`${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for -provider ${provider}: add -provider ${provider}`, ExitCode.Usage);
  }
  if (flags.keepSnapshots && flags.provider !== 'aws' && flags.provider !== 'azure') {
    throw new CliError('-keep-snapshots is for -provider aws or azure (a vSphere export always removes the snapshot it took): add -provider aws or azure', ExitCode.Usage);
  }
}

export const SUBSCRIPTION_HELP = "provider azure: the VM's subscription id (default: AZURE_SUBSCRIPTION_ID here, else the daemon's azure.subscription_id)";
export const RESOURCE_GROUP_HELP = "provider azure: the VM's resource group, when -vm is a VM name (default: the daemon's azure.resource_group)";

/**
 * An Azure job's or VM list's source fields: -subscription (else this process's
 * AZURE_SUBSCRIPTION_ID, else the daemon's) and -resource-group, each checked
 * before anything is sent.
 */
export function azureSourceToSend(flags: ProviderFlags, env: NodeJS.ProcessEnv): { subscription_id?: string; resource_group?: string } {
  const fromEnv = env.AZURE_SUBSCRIPTION_ID?.trim();
  const [subscription, origin] = flags.subscription !== undefined ? [flags.subscription, '-subscription'] : fromEnv ? [fromEnv, 'AZURE_SUBSCRIPTION_ID'] : [undefined, ''];
  if (subscription !== undefined && !SUBSCRIPTION_ID.test(subscription)) {
    throw new CliError(`${origin} ${JSON.stringify(subscription)} is not ${SUBSCRIPTION_SHAPE}`, ExitCode.Usage);
  }
  if (flags.resourceGroup !== undefined && !RESOURCE_GROUP.test(flags.resourceGroup)) {
    throw new CliError(`-resource-group ${JSON.stringify(flags.resourceGroup)} is not ${RESOURCE_GROUP_SHAPE}`, ExitCode.Usage);
  }
  return { ...(subscription ? { subscription_id: subscription } : {}), ...(flags.resourceGroup !== undefined ? { resource_group: flags.resourceGroup } : {}) };
}

/** -aws-profile, checked before anything is sent. */
export function awsProfileToSend(flag: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  const problem = awsProfileProblem(flag);
  if (problem) throw new CliError(`-aws-profile ${problem}`, ExitCode.Usage);
  return flag;
}

/** -since-snapshot, its shape checked before anything is sent. */
export function sinceSnapshotToSend(flag: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  if (!SINCE_SNAPSHOT.test(flag)) throw new CliError(`-since-snapshot ${JSON.stringify(flag)} is not ${SINCE_SNAPSHOT_SHAPE}`, ExitCode.Usage);
  return flag;
}
