// The flags that pick the source platform, shared by hyperctl's submit and vms and
// by hyperexport: -provider vsphere|aws, and for AWS -region, -aws-profile,
// -keep-snapshots and -since-snapshot. AWS credentials are never a flag: the daemon's workers read AWS
// with their own credential chain. -aws-profile, not -profile: -profile already
// names a vCenter profile of the daemon (the original's meaning).
import { Option } from 'commander';
import { awsProfileProblem, awsRegionProblem } from '../../config/aws-region.js';
import { SINCE_SNAPSHOT } from '../../core/aws-ids.js';
import { SINCE_SNAPSHOT_SHAPE } from '../../jobs/submit-schemas.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';

export const PROVIDERS = ['vsphere', 'aws'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ProviderFlags {
  provider?: Provider;
  region?: string;
  awsProfile?: string;
  keepSnapshots?: boolean;
  sinceSnapshot?: string;
}

/** -provider, whose refusal of any other value lists both (commander's choices). */
export function providerOption(): Option {
  return new Option('--provider <name>', 'source platform: vsphere (default) or aws').choices(PROVIDERS);
}

export const REGION_HELP = 'provider aws: the AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION here, else the daemon\'s aws.region)';
export const AWS_PROFILE_HELP = "provider aws: a profile of the daemon's shared AWS config (default: its AWS credential chain)";
export const KEEP_SNAPSHOTS_HELP = 'provider aws: keep the EBS snapshots the export took (default: deleted at the end); the result names them (kept snapshot)';
export const SINCE_SNAPSHOT_HELP =
  "provider aws: an incremental export: read only the blocks changed since an earlier export's kept snapshot (vol-...=snap-...,...; or one snap-... of a one-disk source), laid over that export's raw/qcow2 images in the same local output, which the new images replace";

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
  const given = [
    flags.region !== undefined ? '-region' : '',
    flags.awsProfile !== undefined ? '-aws-profile' : '',
    flags.keepSnapshots ? '-keep-snapshots' : '',
    flags.sinceSnapshot !== undefined ? '-since-snapshot' : '',
  ].filter(Boolean);
  if (given.length > 0) throw new CliError(`${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for -provider aws: add -provider aws`, ExitCode.Usage);
}

/** -aws-profile, checked before anything is sent. */
export function awsProfileToSend(flag: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  const problem = awsProfileProblem(flag);
  if (problem) throw new CliError(`-aws-profile ${problem}`, ExitCode.Usage);
  return flag;
}

/**
 * -since-snapshot, checked before anything is sent: its shape, and a local output
 * (the earlier export's images are read back from it). Absent `output`: the daemon's
 * default directory, which is local.
 */
export function sinceSnapshotToSend(flag: string | undefined, output: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  if (!SINCE_SNAPSHOT.test(flag)) throw new CliError(`-since-snapshot ${JSON.stringify(flag)} is not ${SINCE_SNAPSHOT_SHAPE}`, ExitCode.Usage);
  if (output?.startsWith('s3://')) {
    throw new CliError(
      `-since-snapshot updates the earlier export's raw/qcow2 images in the local output it wrote them to, reading them back: give that directory as -output, not ${output}`,
      ExitCode.Usage,
    );
  }
  return flag;
}
