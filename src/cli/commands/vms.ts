import { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';
import type { VmRow } from '../daemon-client.js';


export function vmsCommand(ctx: CommandContext): Command {
  const vms = new Command('vms').description('discover VMs through the daemon (list, info)');
  vms.addCommand(
    withCommonOptions(new Command('list').description('list the VMs of the vCenter').option('--profile <name>', 'vCenter profile')).action(
      async (options: CommonOptions & { profile?: string }) => {
        const { io } = ctx;
        const query = options.profile ? `?profile=${encodeURIComponent(options.profile)}` : '';
        const response = await daemonClient(options, io).get<{ vms: VmRow[]; total: number }>(`/vms/list${query}`);
        if (options.json) printJson(io, response);
        else {
          for (const vm of response.vms) {
            io.out(`${vm.path}\t${vm.power_state}\t${vm.num_cpu} CPU\t${vm.memory_mb} MiB\t${formatBytes(vm.storage_bytes)}\t${vm.guest_os}\n`);
          }
          io.out(`${response.total} VM(s)\n`);
        }
        ctx.setExitCode(ExitCode.Ok);
      },
    ),
  );
  vms.addCommand(
    withCommonOptions(
      new Command('info').description('describe one VM').requiredOption('--vm <path>', 'VM path, name, moref or UUID').option('--profile <name>', 'vCenter profile'),
    ).action(async (options: CommonOptions & { vm: string; profile?: string }) => {
      const { io } = ctx;
      const response = await daemonClient(options, io).post<{ vm: Record<string, unknown> }>('/vms/info', {
        vm_path: options.vm,
        ...(options.profile ? { profile: options.profile } : {}),
      });
      if (options.json) printJson(io, response);
      else for (const [key, value] of Object.entries(response.vm)) io.out(`${key.padEnd(16)} ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}\n`);
      ctx.setExitCode(ExitCode.Ok);
    }),
  );
  return vms;
}
