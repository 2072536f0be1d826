// The flags that pick the source platform, shared by hyperctl's submit and vms and
// by hyperexport: -provider vsphere|aws, and for AWS -region, -aws-profile and
// -keep-snapshots. AWS credentials are never a flag: the daemon's workers read AWS
// with their own credential chain. -aws-profile, not -profile: -profile already
// names a vCenter profile of the daemon (the original's meaning).
import { Option } from 'commander';
import { awsProfileProblem, awsRegionProblem } from '../../config/aws-region.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';

export const PROVIDERS = ['vsphere', 'aws'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ProviderFlags {
  provider?: Provider;
  region?: string;
  awsProfile?: string;
  keepSnapshots?: boolean;
}

/** -provider, whose refusal of any other value lists both (commander's choices). */
export function providerOption(): Option {
  return new Option('--provider <name>', 'source platform: vsphere (default) or aws').choices(PROVIDERS);
}

export const REGION_HELP = 'provider aws: the AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION here, else the daemon\'s aws.region)';
export const AWS_PROFILE_HELP = "provider aws: a profile of the daemon's shared AWS config (default: its AWS credential chain)";
export const KEEP_SNAPSHOTS_HELP = 'provider aws: keep the EBS snapshots the export took (default: deleted at the end)';

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

/** The AWS-only flags given without -provider aws would be silently dropped: a usage error instead. */
export function refuseAwsOnlyFlags(flags: ProviderFlags): void {
  if (flags.provider === 'aws') return;
  const given = [flags.region !== undefined ? '-region' : '', flags.awsProfile !== undefined ? '-aws-profile' : '', flags.keepSnapshots ? '-keep-snapshots' : ''].filter(Boolean);
  if (given.length > 0) throw new CliError(`${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for -provider aws: add -provider aws`, ExitCode.Usage);
}

/** -aws-profile, checked before anything is sent. */
export function awsProfileToSend(flag: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  const problem = awsProfileProblem(flag);
  if (problem) throw new CliError(`-aws-profile ${problem}`, ExitCode.Usage);
  return flag;
}
