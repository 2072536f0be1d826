import { Command } from 'commander';
import type { Job } from '../../jobs/job-schemas.js';
import { ExitCode } from '../exit-codes.js';
import { renderJob } from '../format.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

interface QueryOptions extends CommonOptions {
  id?: string[];
  all?: boolean;
  status?: string;
  limit?: number;
}

export function queryCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('query')
      .description('show jobs: -id <id>, -all, or -status pending,running,...')
      .option('--id <id...>', 'job id (repeatable, or comma-separated)')
      .option('--all', 'all jobs')
      .option('--status <list>', 'comma-separated statuses: pending,running,completed,failed,cancelled')
      .option('--limit <n>', 'at most n jobs', (v) => Number(v)),
  ).action(async (options: QueryOptions, command: Command) => {
    const { io } = ctx;
    if (!options.id && !options.all && !options.status) command.error('error: give -id <id>, -all or -status <list>', { exitCode: ExitCode.Usage });
    const ids = options.id?.flatMap((v) => v.split(',')).filter(Boolean);
    const response = await daemonClient(options, io).post<{ jobs: Job[]; total: number }>('/jobs/query', {
      ...(ids ? { job_ids: ids } : {}),
      ...(options.status ? { status: options.status.split(',').map((s) => s.trim()) } : {}),
      ...(options.all ? { all: true } : {}),
      ...(options.limit ? { limit: options.limit } : {}),
    });
    if (options.json) printJson(io, response);
    else if (response.jobs.length === 0) io.out(ids ? `No job found with id ${ids.join(', ')}\n` : 'No jobs\n');
    else io.out(response.jobs.map((job) => renderJob(job, io)).join('\n'));
    const missing = ids ? ids.filter((id) => !response.jobs.some((j) => j.definition.id === id)) : [];
    for (const id of missing) io.err(`job ${id} not found; list jobs with 'hyperctl query -all'\n`);
    ctx.setExitCode(missing.length ? ExitCode.Failed : ExitCode.Ok);
  });
}
