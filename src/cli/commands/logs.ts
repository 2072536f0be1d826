// hyperctl logs [-f] [-tail N] <id>: a job's log lines (GET /jobs/logs/{id}):
// its workflow history and the worker's own lines for it. -f follows until the job
// reaches a final state, printing each line once.
import { Command, InvalidArgumentError } from 'commander';
import type { JobStatus } from '../../jobs/job-schemas.js';
import type { DaemonClient } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

export interface JobLogLine {
  timestamp: string;
  level: string;
  message: string;
  source: string;
  details?: Record<string, unknown>;
}

export interface JobLogsResponse {
  job_id: string;
  logs: JobLogLine[];
  log_count: number;
  timestamp: string;
}

interface LogsOptions extends CommonOptions {
  follow?: boolean;
  tail: number;
  interval: number;
  timeout: number;
}

const FINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
/** The original's default for -tail. */
const DEFAULT_TAIL = 50;

function detailText(value: unknown): string {
  return typeof value === 'string' && /^\S+$/.test(value) ? value : JSON.stringify(value);
}

/** One line of text per log line: time, level, where it came from, message, details as key=value. */
export function renderLogLine(line: JobLogLine): string {
  const details = Object.entries(line.details ?? {})
    .map(([key, value]) => ` ${key}=${detailText(value)}`)
    .join('');
  // A message is one line of output whatever it holds.
  const message = line.message.replace(/\r?\n/g, ' ');
  return `${line.timestamp} ${line.level.toUpperCase().padEnd(5)} [${line.source}] ${message}${details}`;
}

/** Identity of a line, to print each once while following (the same text may repeat: counted). */
function lineKey(line: JobLogLine): string {
  return JSON.stringify([line.timestamp, line.source, line.level, line.message]);
}

/** Remembers which lines were printed; unseen() returns those of an answer not printed yet, in order. */
export class SeenLines {
  private readonly printed = new Map<string, number>();

  unseen(lines: readonly JobLogLine[]): JobLogLine[] {
    const inAnswer = new Map<string, number>();
    const fresh: JobLogLine[] = [];
    for (const line of lines) {
      const key = lineKey(line);
      const nth = (inAnswer.get(key) ?? 0) + 1;
      inAnswer.set(key, nth);
      if (nth > (this.printed.get(key) ?? 0)) {
        this.printed.set(key, nth);
        fresh.push(line);
      }
    }
    return fresh;
  }
}

function logsPath(id: string, tail?: number): string {
  return `/jobs/logs/${encodeURIComponent(id)}${tail ? `?tail=${tail}` : ''}`;
}

function print(io: CliIo, lines: readonly JobLogLine[], json: boolean | undefined): void {
  for (const line of lines) io.out(`${json ? JSON.stringify(line) : renderLogLine(line)}\n`);
}

async function follow(ctx: CommandContext, client: DaemonClient, id: string, options: LogsOptions): Promise<void> {
  const { io } = ctx;
  const seen = new SeenLines();
  const deadline = options.timeout > 0 ? Date.now() + options.timeout * 1000 : Infinity;
  let first = true;
  for (;;) {
    // The status first: when it is final, the logs fetched after it hold the last lines.
    const { status } = await client.get<{ status: JobStatus }>(`/jobs/${encodeURIComponent(id)}`);
    // The whole log each time (the daemon bounds it), so lines written between two
    // polls are never lost to -tail; -tail only limits what is shown at first.
    const answer = await client.get<JobLogsResponse>(logsPath(id));
    const fresh = seen.unseen(answer.logs);
    print(io, first && options.tail > 0 ? fresh.slice(-options.tail) : fresh, options.json);
    first = false;
    if (FINAL.includes(status)) {
      ctx.setExitCode(status === 'completed' ? ExitCode.Ok : ExitCode.Failed);
      if (!options.json) io.err(`job ${id} ${status}\n`);
      return;
    }
    if (Date.now() > deadline) {
      io.err(`job ${id} is still ${status} after ${options.timeout}s; stopped following\n`);
      ctx.setExitCode(ExitCode.Failed);
      return;
    }
    await new Promise((r) => setTimeout(r, Math.max(options.interval, 0.1) * 1000));
  }
}

function nonNegativeInt(flag: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${flag} takes a whole number, not ${JSON.stringify(value)}`);
    return Number(value);
  };
}

export function logsCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('logs')
      .description("a job's log lines (workflow history and worker): logs [-f] [-tail N] <id>")
      .argument('<id>', 'job id')
      .option('-f, --follow', 'keep printing new lines until the job completes, fails or is cancelled')
      .option('--tail <n>', 'show the last n lines (0 = all)', nonNegativeInt('-tail'), DEFAULT_TAIL)
      .option('--interval <seconds>', 'poll interval with -f', (v) => Number(v), 1)
      .option('--timeout <seconds>', 'with -f, stop after this long (0 = when the job ends)', (v) => Number(v), 0),
  ).action(async (id: string, options: LogsOptions) => {
    const { io } = ctx;
    const client = daemonClient(options, io);
    if (options.follow) return follow(ctx, client, id, options);
    const answer = await client.get<JobLogsResponse>(logsPath(id, options.tail));
    if (options.json) printJson(io, answer);
    else if (answer.logs.length === 0) io.err(`job ${id} has no log lines yet\n`);
    else print(io, answer.logs, false);
    ctx.setExitCode(ExitCode.Ok);
  });
}
