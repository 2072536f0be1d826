import { Command } from 'commander';
import type { JobProgress, JobStatus } from '../../jobs/job-schemas.js';
import { ExitCode } from '../exit-codes.js';
import { guardStatusWords } from '../format.js';
import { renderBar } from '../progress-bar.js';
import { daemonClient, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

interface ProgressResponse {
  job_id: string;
  status: JobStatus;
  progress: JobProgress;
}

const FINAL: JobStatus[] = ['completed', 'failed', 'cancelled'];

export function watchCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('watch')
      .description('follow a job until it ends, with per-disk progress, rate and ETA: watch <id> (or -id <id>)')
      .argument('[id]', 'job id')
      .option('--id <id>', 'job id (the same as the argument)')
      .option('--interval <seconds>', 'poll interval', (v) => Number(v), 1)
      .option('--timeout <seconds>', 'give up after this long (0 = never)', (v) => Number(v), 0),
  ).action(async (positional: string | undefined, flags: CommonOptions & { id?: string; interval: number; timeout: number }, command: Command) => {
    const { io } = ctx;
    const id = flags.id ?? positional;
    if (id === undefined) return command.error('error: give the job id: hyperctl watch <id>', { exitCode: ExitCode.Usage });
    if (flags.id !== undefined && positional !== undefined && flags.id !== positional) {
      return command.error(`error: two job ids (${positional} and -id ${flags.id}); give one`, { exitCode: ExitCode.Usage });
    }
    const options = { ...flags, id };
    const client = daemonClient(options, io);
    const deadline = options.timeout > 0 ? Date.now() + options.timeout * 1000 : Infinity;
    let lastLine = '';
    let drawnLines = 0;
    for (;;) {
      const p = await client.get<ProgressResponse>(`/jobs/progress/${encodeURIComponent(options.id)}`);
      if (options.json) io.out(`${JSON.stringify(p)}\n`);
      else if (io.isTty) {
        const lines = [
          `${p.job_id}: ${p.status} (${p.progress.phase})`,
          ...p.progress.disks.map((d) => renderBar({ label: d.file.padEnd(24).slice(0, 24), done: d.bytes_done, total: d.size_bytes })),
          renderBar({
            label: 'total'.padEnd(24),
            done: p.progress.bytes_downloaded,
            total: p.progress.total_bytes,
            rateBytesPerSecond: p.progress.speed_mbps * 1024 * 1024,
            eta: p.progress.estimated_remaining,
          }),
        ];
        // Move up over the previous frame and redraw it.
        if (drawnLines) io.out(`\u001b[${drawnLines}F`);
        io.out(lines.map((l) => `\u001b[2K${l}`).join('\n') + '\n');
        drawnLines = lines.length;
      } else {
        const line = guardStatusWords(
          `${p.job_id}: ${p.status} phase=${p.progress.phase} ${p.progress.percent_complete.toFixed(1)}% ${p.progress.bytes_downloaded}/${p.progress.total_bytes} bytes files=${p.progress.files_downloaded}/${p.progress.total_files}${p.progress.estimated_remaining ? ` eta=${p.progress.estimated_remaining}` : ''}`,
          p.status,
        );
        if (line !== lastLine) io.out(`${line}\n`);
        lastLine = line;
      }
      if (FINAL.includes(p.status)) {
        ctx.setExitCode(p.status === 'completed' ? ExitCode.Ok : ExitCode.Failed);
        if (!options.json && p.status !== 'completed') {
          const job = await client.get<{ error?: string }>(`/jobs/${encodeURIComponent(options.id)}`);
          if (job.error) io.err(`${job.error}\n`);
        }
        return;
      }
      if (Date.now() > deadline) {
        io.err(`job ${options.id} is still ${p.status} after ${options.timeout}s\n`);
        ctx.setExitCode(ExitCode.Failed);
        return;
      }
      await new Promise((r) => setTimeout(r, Math.max(options.interval, 0.1) * 1000));
    }
  });
}

