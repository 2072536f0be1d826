// Submits the exports, follows them to their end with live progress, and cancels
// them on Ctrl-C (the signal is an AbortSignal; the caller wires it to SIGINT).
import type { Job } from '../../jobs/job-schemas.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { styles, type CliIo } from '../io.js';
import { FINAL_STATUSES, type ExportBackend, type ExportRequest } from './backend.js';
import { ProgressDisplay, type TrackedExport } from './progress.js';

export interface RunOptions {
  io: CliIo;
  json: boolean;
  /** -quiet: no progress at all; errors and the final summary only. */
  quiet?: boolean;
  /** Poll interval. */
  intervalMs: number;
  columns?: number;
  /** Aborted on the first Ctrl-C: cancel what we started. */
  interrupt: AbortSignal;
  /** Aborted on a second Ctrl-C: stop waiting for the cancellations. */
  force: AbortSignal;
  /** How long to wait for cancelled exports to clean up (snapshot, lease). */
  cancelWaitMs?: number;
}

export interface RunOutcome {
  exports: TrackedExport[];
  submitErrors: string[];
  interrupted: boolean;
}

function sleep(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const s of signals) s.addEventListener('abort', done, { once: true });
  });
}

const isFinal = (e: TrackedExport) => e.job !== undefined && FINAL_STATUSES.has(e.job.status);

export async function runExports(backend: ExportBackend, requests: readonly ExportRequest[], options: RunOptions): Promise<RunOutcome> {
  const { io } = options;
  const display = new ProgressDisplay(io, { ...(options.columns ? { columns: options.columns } : {}) });
  const showProgress = !options.json && !options.quiet;
  const exports: TrackedExport[] = [];
  const submitErrors: string[] = [];
  for (const request of requests) {
    if (options.interrupt.aborted) break;
    try {
      const id = await backend.submit(request);
      exports.push({ id, vmPath: request.vm_path });
      if (showProgress && !io.isTty) io.out(`${request.vm_path}: submitted as job ${id}\n`);
    } catch (err) {
      // Unreachable daemon or refused credentials: nothing else will work either.
      if (err instanceof CliError && err.exitCode !== ExitCode.Failed) {
        if (exports.length) await backend.cancel(exports.map((e) => e.id)).catch(() => undefined);
        throw err;
      }
      submitErrors.push(err instanceof Error ? err.message : String(err));
      if (!options.json) io.err(`${styles(io).red('✖')} ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }

  let interrupted = options.interrupt.aborted;
  let cancelDeadline = 0;
  let note: string | undefined;
  const requestCancel = async () => {
    interrupted = true;
    cancelDeadline = Date.now() + (options.cancelWaitMs ?? 60_000);
    const open = exports.filter((e) => !isFinal(e)).map((e) => e.id);
    note = `Interrupted: cancelling ${open.length} export(s) and cleaning up (Ctrl-C again to stop waiting)...`;
    if (!options.json && !io.isTty) io.err(`${note}\n`);
    const errors = await backend.cancel(open).catch((err: unknown) => [err instanceof Error ? err.message : String(err)]);
    for (const e of errors) io.err(`could not cancel: ${e}\n`);
  };
  if (interrupted) await requestCancel();

  while (exports.some((e) => !isFinal(e))) {
    if (!interrupted && options.interrupt.aborted) await requestCancel();
    if (interrupted && (options.force.aborted || Date.now() > cancelDeadline)) break;
    const polled = await Promise.all(
      exports.map(async (e) => {
        if (isFinal(e)) return;
        try {
          e.job = await backend.job(e.id);
        } catch (err) {
          // A daemon that went away mid-export: say so, keep trying until Ctrl-C.
          if (err instanceof CliError && err.exitCode === ExitCode.Unreachable) return err;
          throw err;
        }
        return undefined;
      }),
    );
    const lost = polled.find((p) => p !== undefined);
    if (showProgress) display.update(exports, lost ? `${lost.message} (retrying)` : note);
    if (exports.every(isFinal)) break;
    await sleep(options.intervalMs, options.interrupt, options.force);
  }
  if (showProgress) display.update(exports);
  return { exports, submitErrors, interrupted };
}

/** Seconds an export took: duration_seconds where the daemon gives it (duration is then Go nanoseconds). */
function postLines(e: TrackedExport): string[] {
  const lines: string[] = [];
  if (e.post?.verified) lines.push(`    verified: ${e.post.verified} file(s) match the manifest${e.post.checksumsPath ? `; checksums in ${e.post.checksumsPath}` : ''}`);
  if (e.post?.compressedPath) lines.push(`    compressed: ${e.post.compressedPath}`);
  return lines;
}

export function summarise(outcome: RunOutcome, io: CliIo): void {
  const s = styles(io);
  for (const e of outcome.exports) {
    const job: Job | undefined = e.job;
    if (job?.status === 'completed' && job.result) {
      const r = job.result;
      const mark = e.postError ? s.red('✖') : s.green('✔');
      io.out(`${mark} ${e.vmPath} -> ${r.output_dir} (${r.files.length} files, ${formatBytes(r.total_size)}, ${r.duration_seconds}s, method ${r.method})\n`);
      for (const f of r.file_details) io.out(`    ${f.sha256 ?? '(members below)'}  ${f.path}\n`);
      for (const m of r.members ?? []) io.out(`    ${m.sha256}  ${r.ova_path ?? r.output_dir}/${m.name}\n`);
      // How each disk was read: datastore resumes after a fault, an NFC stream restarts from zero.
      for (const d of r.disks ?? []) io.out(`    ${d.file}: ${d.method} (${d.reason})\n`);
      // AWS: what an incremental export read changes since, and the snapshots kept for the next one.
      if (r.since_snapshot) io.out(`    since snapshot: ${r.since_snapshot} (only the blocks changed since were read)\n`);
      if (r.kept_snapshot) io.out(`    kept snapshot: ${r.kept_snapshot} (give it as -since-snapshot to the next export to this output)\n`);
      for (const line of postLines(e)) io.out(`${line}\n`);
      if (e.postError) io.out(`    ${e.postError}\n`);
    } else if (job && FINAL_STATUSES.has(job.status)) {
      io.out(`${job.status === 'cancelled' ? s.yellow('■') : s.red('✖')} ${e.vmPath}: ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
      if (job.error_type === 'VmPoweredOn') io.out('    hint: add -snapshot (the VM keeps running) or -power-off\n');
      if (job.error_type === 'OutputPathNotAllowed') io.out("    hint: choose an -output under the daemon's allowed output roots\n");
    } else {
      io.out(`${s.yellow('?')} ${e.vmPath}: still ${job?.status ?? 'submitting'} (job ${e.id}); follow it with 'hyperctl watch -id ${e.id}'\n`);
    }
  }
}

/**
 * -quiet: the original's script-friendly lines. stdout gets `success: <vm> exported to <dir> (<size>)` per
 * export (and `batch-summary: total=N success=N failed=N` for -batch); failures go to stderr.
 */
export function summariseQuietly(outcome: RunOutcome, io: CliIo, batch: boolean): void {
  let succeeded = 0;
  for (const e of outcome.exports) {
    const job = e.job;
    if (job?.status === 'completed' && job.result && !e.postError) {
      succeeded++;
      io.out(`success: ${e.vmPath} exported to ${e.post?.compressedPath ?? job.result.ova_path ?? job.result.output_dir} (${formatBytes(job.result.total_size)})\n`);
    } else if (e.postError) io.err(`error: ${e.vmPath}: ${e.postError}\n`);
    else if (job && FINAL_STATUSES.has(job.status)) io.err(`error: ${e.vmPath}: ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
    else io.err(`error: ${e.vmPath}: still ${job?.status ?? 'submitting'} (job ${e.id})\n`);
  }
  const total = outcome.exports.length + outcome.submitErrors.length;
  if (batch) io.out(`batch-summary: total=${total} success=${succeeded} failed=${total - succeeded}\n`);
}

/** Exit code of a run: 130 after Ctrl-C, 0 when every export completed (and passed -verify / -compress), else 1. */
export function exitCodeOf(outcome: RunOutcome): number {
  if (outcome.interrupted) return 130;
  if (outcome.submitErrors.length) return ExitCode.Failed;
  return outcome.exports.every((e) => e.job?.status === 'completed' && !e.postError) ? ExitCode.Ok : ExitCode.Failed;
}

export function jsonReport(outcome: RunOutcome): unknown {
  return {
    exports: outcome.exports.map((e) => ({
      job_id: e.id,
      vm_path: e.vmPath,
      status: e.job?.status ?? 'unknown',
      ...(e.job?.result ? { result: e.job.result } : {}),
      ...(e.job?.error ? { error: e.job.error, error_type: e.job.error_type } : {}),
      ...(e.post ? { verified_files: e.post.verified, ...(e.post.checksumsPath ? { checksums_path: e.post.checksumsPath } : {}), ...(e.post.compressedPath ? { compressed_path: e.post.compressedPath } : {}) } : {}),
      ...(e.postError ? { post_export_error: e.postError } : {}),
    })),
    errors: outcome.submitErrors,
    interrupted: outcome.interrupted,
    timestamp: new Date().toISOString(),
  };
}
