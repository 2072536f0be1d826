import { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

export function cancelCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('cancel').description('cancel jobs: -id <id> (repeatable or comma-separated)').requiredOption('--id <id...>', 'job id'),
  ).action(async (options: CommonOptions & { id: string[] }) => {
    const { io } = ctx;
    const ids = options.id.flatMap((v) => v.split(',')).filter(Boolean);
    // errors: why each failed id could not be cancelled, by id (absent when none failed).
    const response = await daemonClient(options, io).post<{ cancelled: string[]; failed: string[]; errors?: Record<string, string> }>('/jobs/cancel', { job_ids: ids });
    if (options.json) printJson(io, response);
    else {
      for (const id of response.cancelled) io.out(`Cancellation requested: ${id}\n`);
      for (const id of response.failed) io.err(`Could not cancel: ${response.errors?.[id] ?? id}\n`);
    }
    ctx.setExitCode(response.failed.length ? ExitCode.Failed : ExitCode.Ok);
  });
}
