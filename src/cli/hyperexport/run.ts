// Submits the exports, follows them to their end with live progress, and cancels
// them on Ctrl-C (the signal is an AbortSignal; the caller wires it to SIGINT).
import type { Job } from '../../api/schemas.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { styles, type CliIo } from '../io.js';
import { FINAL_STATUSES, type ExportBackend, type ExportRequest } from './backend.js';
import { ProgressDisplay, type TrackedExport } from './progress.js';

export interface RunOptions {
  io: CliIo;
  json: boolean;
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
  const exports: TrackedExport[] = [];
  const submitErrors: string[] = [];
  for (const request of requests) {
    if (options.interrupt.aborted) break;
    try {
      const id = await backend.submit(request);
      exports.push({ id, vmPath: request.vm_path });
      if (!options.json && !io.isTty) io.out(`${request.vm_path}: submitted as job ${id}\n`);
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
    if (!options.json) display.update(exports, lost ? `${lost.message} (retrying)` : note);
    if (exports.every(isFinal)) break;
    await sleep(options.intervalMs, options.interrupt, options.force);
  }
  if (!options.json) display.update(exports);
  return { exports, submitErrors, interrupted };
}

export function summarise(outcome: RunOutcome, io: CliIo): void {
  const s = styles(io);
  for (const e of outcome.exports) {
    const job: Job | undefined = e.job;
    if (job?.status === 'completed' && job.result) {
      const r = job.result;
      io.out(`${s.green('✔')} ${e.vmPath} -> ${r.output_dir} (${r.files.length} files, ${formatBytes(r.total_size)}, ${r.duration_seconds}s, method ${r.method})\n`);
      for (const f of r.file_details) io.out(`    ${f.sha256 ?? '(members below)'}  ${f.path}\n`);
      for (const m of r.members ?? []) io.out(`    ${m.sha256}  ${r.ova_path ?? r.output_dir}/${m.name}\n`);
      // How each disk was read: datastore resumes after a fault, an NFC stream restarts from zero.
      for (const d of r.disks ?? []) io.out(`    ${d.file}: ${d.method} (${d.reason})\n`);
    } else if (job && FINAL_STATUSES.has(job.status)) {
      io.out(`${job.status === 'cancelled' ? s.yellow('■') : s.red('✖')} ${e.vmPath}: ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
      if (job.error_type === 'VmPoweredOn') io.out('    hint: add -snapshot (the VM keeps running) or -power-off\n');
      if (job.error_type === 'OutputPathNotAllowed') io.out("    hint: choose an -output under the daemon's allowed output roots\n");
    } else {
      io.out(`${s.yellow('?')} ${e.vmPath}: still ${job?.status ?? 'submitting'} (job ${e.id}); follow it with 'hyperctl watch -id ${e.id}'\n`);
    }
  }
}

/** Exit code of a run: 130 after Ctrl-C, 0 when every export completed, else 1. */
export function exitCodeOf(outcome: RunOutcome): number {
  if (outcome.interrupted) return 130;
  if (outcome.submitErrors.length) return ExitCode.Failed;
  return outcome.exports.every((e) => e.job?.status === 'completed') ? ExitCode.Ok : ExitCode.Failed;
}

export function jsonReport(outcome: RunOutcome): unknown {
  return {
    exports: outcome.exports.map((e) => ({
      job_id: e.id,
      vm_path: e.vmPath,
      status: e.job?.status ?? 'unknown',
      ...(e.job?.result ? { result: e.job.result } : {}),
      ...(e.job?.error ? { error: e.job.error, error_type: e.job.error_type } : {}),
    })),
    errors: outcome.submitErrors,
    interrupted: outcome.interrupted,
    timestamp: new Date().toISOString(),
  };
}
