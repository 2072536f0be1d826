import { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

interface StatusResponse {
  version: string;
  uptime: string;
  total_jobs: number;
  running_jobs: number;
  completed_jobs: number;
  failed_jobs: number;
  cancelled_jobs: number;
  temporal: { address: string; namespace: string; task_queue: string; reachable: boolean };
}

export function statusCommand(ctx: CommandContext): Command {
  return withCommonOptions(new Command('status').description('daemon status; exits 0 only when the daemon answers')).action(
    async (options: CommonOptions) => {
      const { io } = ctx;
      const client = daemonClient(options, io);
      const status = await client.get<StatusResponse>('/status');
      if (options.json) printJson(io, status);
      else {
        io.out(
          [
            `Daemon:    ${client.url} (version ${status.version}, up ${status.uptime})`,
            `Temporal:  ${status.temporal.address} namespace ${status.temporal.namespace}, queue ${status.temporal.task_queue}${status.temporal.reachable ? '' : ' (UNREACHABLE)'}`,
            `Jobs:      ${status.total_jobs} total, ${status.running_jobs} running, ${status.completed_jobs} completed, ${status.failed_jobs} failed, ${status.cancelled_jobs} cancelled`,
            '',
          ].join('\n'),
        );
      }
      ctx.setExitCode(ExitCode.Ok);
    },
  );
}
