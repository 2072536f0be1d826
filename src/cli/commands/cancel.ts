import { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

interface CancelResponse {
  cancelled: string[];
  failed: string[];
  /** A map job id -> reason (the original's shape, omitted when empty); a list of sentences from older daemons. */
  errors?: Record<string, string> | string[];
}

/** One sentence per job that could not be cancelled, whichever shape the daemon answered. */
export function cancelErrors(response: CancelResponse): string[] {
  const { errors } = response;
  if (!errors) return response.failed;
  if (Array.isArray(errors)) return errors;
  // Our reasons name the job already ("job x not found"); another daemon's may not.
  const explained = Object.entries(errors).map(([id, message]) => (message.includes(id) ? message : `${id}: ${message}`));
  return [...explained, ...response.failed.filter((id) => !(id in errors))];
}

export function cancelCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('cancel').description('cancel jobs: -id <id> (repeatable or comma-separated)').requiredOption('--id <id...>', 'job id'),
  ).action(async (options: CommonOptions & { id: string[] }) => {
    const { io } = ctx;
    const ids = options.id.flatMap((v) => v.split(',')).filter(Boolean);
    const response = await daemonClient(options, io).post<CancelResponse>('/jobs/cancel', { job_ids: ids });
    if (options.json) printJson(io, response);
    else {
      for (const id of response.cancelled) io.out(`Cancellation requested: ${id}\n`);
      for (const e of cancelErrors(response)) io.err(`Could not cancel: ${e}\n`);
    }
    ctx.setExitCode(response.failed.length ? ExitCode.Failed : ExitCode.Ok);
  });
}
