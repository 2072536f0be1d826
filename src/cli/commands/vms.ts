import { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import {
  AWS_PROFILE_HELP,
  awsProfileToSend,
  azureSourceToSend,
  providerOption,
  REGION_HELP,
  RESOURCE_GROUP_HELP,
  refuseForeignFlags,
  regionToSend,
  SUBSCRIPTION_HELP,
  type ProviderFlags,
} from './provider-flags.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';
import type { VmRow } from '../daemon-client.js';
import { CliError } from '../daemon-client.js';

type VmsOptions = CommonOptions & Omit<ProviderFlags, 'keepSnapshots' | 'sinceSnapshot'> & { profile?: string };

/**
 * Where the daemon looks: a vCenter profile, with -provider aws a region and a
 * shared-config profile, with -provider azure a subscription and resource group.
 * As request fields ({provider, region, profile} / {provider, subscription_id,
 * resource_group}), both for the query string of GET /vms/list and the body of POST /vms/info.
 */
function targetFields(options: VmsOptions, env: NodeJS.ProcessEnv): Record<string, string> {
  refuseForeignFlags(options);
  if (options.provider === 'azure') {
    if (options.profile !== undefined) throw new CliError("-profile names a vCenter profile of the daemon; Azure is read with the daemon's Azure credentials: leave out -profile", ExitCode.Usage);
    return { provider: 'azure', ...azureSourceToSend(options, env) };
  }
  if (options.provider !== 'aws') return options.profile ? { profile: options.profile } : {};
  if (options.profile !== undefined) {
    throw new CliError("-profile names a vCenter profile of the daemon; for a profile of the daemon's shared AWS config give -aws-profile", ExitCode.Usage);
  }
  const region = regionToSend(options.region, env);
  const profile = awsProfileToSend(options.awsProfile);
  return { provider: 'aws', ...(region ? { region } : {}), ...(profile ? { profile } : {}) };
}

function withTargetOptions(command: Command): Command {
  return withCommonOptions(
    command
      .option('--profile <name>', 'vCenter profile')
      .addOption(providerOption())
      .option('--region <name>', REGION_HELP)
      .option('--aws-profile <name>', AWS_PROFILE_HELP)
      .option('--subscription <id>', SUBSCRIPTION_HELP)
      .option('--resource-group <name>', RESOURCE_GROUP_HELP),
  );
}

export function vmsCommand(ctx: CommandContext): Command {
  const vms = new Command('vms').description('discover VMs through the daemon (list, info); -provider aws: the EC2 instances of a region; -provider azure: the VMs of a subscription or resource group');
  vms.addCommand(
    withTargetOptions(new Command('list').description('list the VMs of the vCenter, or with -provider aws the instances of an AWS region (path /<region>/<instance id>)')).action(
      async (options: VmsOptions) => {
        const { io } = ctx;
        const query = new URLSearchParams(targetFields(options, io.env)).toString();
        const response = await daemonClient(options, io).get<{ vms: VmRow[]; total: number }>(`/vms/list${query ? `?${query}` : ''}`);
        if (options.json) printJson(io, response);
        else {
          for (const vm of response.vms) {
            // An instance's path is its id: its Name tag (what -vm also takes) comes last, where it adds a column only for AWS.
            const name = vm.path.endsWith(`/${vm.name}`) ? '' : `\t${vm.name}`;
            io.out(`${vm.path}\t${vm.power_state}\t${vm.num_cpu} CPU\t${vm.memory_mb} MiB\t${formatBytes(vm.storage_bytes)}\t${vm.guest_os}${name}\n`);
          }
          io.out(`${response.total} VM(s)\n`);
        }
        ctx.setExitCode(ExitCode.Ok);
      },
    ),
  );
  vms.addCommand(
    withTargetOptions(
      new Command('info')
        .description('describe one VM (-provider aws: an instance, volume or snapshot; -provider azure: a VM)')
        .requiredOption('--vm <path>', 'VM path, name, moref or UUID; with -provider aws an instance id, Name tag, vol-... or snap-...; with -provider azure a VM resource id, or a name with -resource-group'),
    ).action(async (options: VmsOptions & { vm: string }) => {
      const { io } = ctx;
      const response = await daemonClient(options, io).post<{ vm: Record<string, unknown> }>('/vms/info', {
        vm_path: options.vm,
        ...targetFields(options, io.env),
      });
      if (options.json) printJson(io, response);
      else for (const [key, value] of Object.entries(response.vm)) io.out(`${key.padEnd(16)} ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}\n`);
      ctx.setExitCode(ExitCode.Ok);
    }),
  );
  return vms;
}
