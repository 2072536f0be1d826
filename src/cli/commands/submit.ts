import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import {
  AWS_PROFILE_HELP,
  awsProfileToSend,
  KEEP_SNAPSHOTS_HELP,
  providerOption,
  REGION_HELP,
  refuseForeignFlags,
  azureSourceToSend,
  RESOURCE_GROUP_HELP,
  SUBSCRIPTION_HELP,
  regionToSend,
  SINCE_SNAPSHOT_HELP,
  sinceSnapshotToSend,
  type ProviderFlags,
} from './provider-flags.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

interface SubmitOptions extends CommonOptions, ProviderFlags {
  vm?: string;
  output?: string;
  file?: string;
  name?: string;
  id?: string;
  format?: string;
  method?: string;
  parallel?: number;
  removeCdrom?: boolean;
  snapshot?: boolean;
  powerOff?: boolean;
  profile?: string;
  overwrite?: boolean;
}

interface SubmitResponse {
  job_ids: string[];
  accepted: number;
  rejected: number;
  errors?: string[];
  warnings?: string[];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidArgumentError('must be an integer from 1 to 32');
  return n;
}

/**
 * The job's source fields: nothing for vSphere (the shape the original's clients
 * send), {provider: aws, source: {region?, profile?}} for AWS, {provider: azure,
 * source: {subscription_id?, resource_group?}} for Azure. Usage errors name the flag.
 */
function sourceFields(options: SubmitOptions, env: NodeJS.ProcessEnv): Record<string, unknown> {
  refuseForeignFlags(options);
  if (options.provider === 'azure') {
    if (options.profile !== undefined) throw new CliError('-profile names a vCenter profile of the daemon; an Azure export uses the daemon\'s Azure credentials: leave out -profile', ExitCode.Usage);
    const source = azureSourceToSend(options, env);
    return { provider: 'azure', ...(Object.keys(source).length ? { source } : {}) };
  }
  if (options.provider !== 'aws') return options.provider ? { provider: options.provider } : {};
  if (options.profile !== undefined) {
    throw new CliError("-profile names a vCenter profile of the daemon; for a profile of the daemon's shared AWS config give -aws-profile", ExitCode.Usage);
  }
  const region = regionToSend(options.region, env);
  const profile = awsProfileToSend(options.awsProfile);
  const source = { ...(region ? { region } : {}), ...(profile ? { profile } : {}) };
  return { provider: 'aws', ...(Object.keys(source).length ? { source } : {}) };
}

export function submitCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('submit')
      .description(
        'submit an export job: -vm <path> -output <dir>, or -file job.yaml; from AWS: -provider aws -vm <instance id, Name tag, vol-... or snap-...> [-region R] [-keep-snapshots] [-since-snapshot <kept snapshot>]; from Azure: -provider azure -vm <VM resource id, or name with -resource-group> [-subscription S] [-keep-snapshots]',
      )
      .option(
        '--vm <path>',
        'VM inventory path, name, moref or UUID; with -provider aws an instance id (i-...), Name tag, volume (vol-...) or snapshot (snap-...); with -provider azure a VM resource id, or a VM name with -resource-group',
      )
      .option('--output <dir>', 'output directory (absolute, inside an allowed root, or relative to the first root)')
      .option('--file <job.yaml>', 'job file: one job or a "jobs:" list (YAML or JSON)')
      .option('--name <name>', 'job name')
      .option('--id <id>', 'job id (default: generated)')
      .option('--format <ovf|ova|raw|qcow2|vhd>', 'what to produce: ovf or ova (the source disks as VMDK; from AWS and Azure, as qcow2 images), raw, qcow2 or vhd (KVM-ready images, written in one pass; vhd: a fixed VHD, as Azure serves a disk; AWS and Azure default qcow2)')
      .option('--method <auto|ovf|datastore>', 'export method')
      .option('--parallel <n>', 'parallel disk downloads', positiveInt)
      .option('--remove-cdrom', 'drop CD-ROM drives from the OVF')
      .option('--snapshot', 'export a snapshot of a powered-on VM')
      .option('--power-off', 'shut a powered-on VM down before exporting')
      .option('--profile <name>', 'vCenter profile of the daemon configuration')
      .option('--overwrite', 'replace an earlier export with the same file names in the output, once this one has succeeded')
      .addOption(providerOption())
      .option('--region <name>', REGION_HELP)
      .option('--aws-profile <name>', AWS_PROFILE_HELP)
      .option('--keep-snapshots', KEEP_SNAPSHOTS_HELP)
      .option('--since-snapshot <snapshots>', SINCE_SNAPSHOT_HELP)
      .option('--subscription <id>', SUBSCRIPTION_HELP)
      .option('--resource-group <name>', RESOURCE_GROUP_HELP),
  ).action(async (options: SubmitOptions, command: Command) => {
    const { io } = ctx;
    if (!options.file && !options.vm) command.error('error: give -vm <path> (with -output <dir>) or -file <job.yaml>', { exitCode: ExitCode.Usage });
    const sourceFlags = [options.provider, options.region, options.awsProfile, options.sinceSnapshot, options.subscription, options.resourceGroup];
    if (options.file && (options.keepSnapshots || sourceFlags.some((f) => f !== undefined))) {
      throw new CliError(
        '-provider, -region, -aws-profile, -keep-snapshots, -since-snapshot, -subscription and -resource-group go with -vm; in a job file each job names its provider and source (and options.since_snapshot)',
        ExitCode.Usage,
      );
    }
    const source = options.file ? {} : sourceFields(options, io.env);
    const since = options.file ? undefined : sinceSnapshotToSend(options.sinceSnapshot);
    const client = daemonClient(options, io);
    let response: SubmitResponse;
    try {
      if (options.file) {
        const text = await readFile(options.file, 'utf8').catch((err: Error) => {
          throw new CliError(`cannot read ${options.file}: ${err.message}`, ExitCode.Usage);
        });
        response = await client.post<SubmitResponse>('/jobs/submit', text, 'application/yaml');
      } else {
        const jobOptions: Record<string, unknown> = {};
        if (options.parallel !== undefined) jobOptions.parallel_downloads = options.parallel;
        if (options.removeCdrom) jobOptions.remove_cdrom = true;
        if (options.snapshot) jobOptions.snapshot = true;
        if (options.powerOff) jobOptions.power_off = true;
        if (options.keepSnapshots) jobOptions.keep_snapshots = true;
        if (since !== undefined) jobOptions.since_snapshot = since;
        response = await client.post<SubmitResponse>('/jobs/submit', {
          ...source,
          vm_path: options.vm,
          ...(options.output ? { output_path: options.output } : {}),
          ...(options.name ? { name: options.name } : {}),
          ...(options.id ? { id: options.id } : {}),
          ...(options.format ? { format: options.format } : {}),
          ...(options.method ? { export_method: options.method } : {}),
          ...(options.profile ? { profile: options.profile } : {}),
          ...(options.overwrite ? { overwrite: true } : {}),
          ...(Object.keys(jobOptions).length ? { options: jobOptions } : {}),
        });
      }
    } catch (err) {
      const body = (err as { body?: SubmitResponse }).body;
      if (err instanceof CliError && body?.errors && !options.json) {
        io.err(`Submit rejected:\n${body.errors.map((e) => `  - ${e}`).join('\n')}\n`);
        ctx.setExitCode(ExitCode.Failed);
        return;
      }
      throw err;
    }
    if (response.accepted === 0 && response.errors?.length && !options.json) {
      // The daemon answers 200 with accepted 0 when it refused every job.
      io.err(`Submit rejected:\n${response.errors.map((e) => `  - ${e}`).join('\n')}\n`);
      ctx.setExitCode(ExitCode.Failed);
      return;
    }
    if (options.json) printJson(io, response);
    else {
      io.out(`Submitted ${response.accepted} job(s)\n`);
      // hyper2kvm reads this exact line.
      for (const id of response.job_ids) io.out(`  - Job ID: ${id}\n`);
      for (const e of response.errors ?? []) io.err(`  rejected: ${e}\n`);
      for (const w of response.warnings ?? []) io.err(`  warning: ${w}\n`);
    }
    ctx.setExitCode(response.accepted > 0 ? ExitCode.Ok : ExitCode.Failed);
  });
}
