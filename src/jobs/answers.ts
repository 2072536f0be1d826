// The answers of GET /jobs/progress/{id} and GET /jobs/eta/{id}, built from the
// job view the store already keeps (its rate is the live one, from successive
// byte counts: rate.ts). Pure functions; `at` is the answer's time.
import type { Job, JobProgress } from './job-schemas.js';
import { goDuration } from './durations.js';
import { progressView } from './views.js';

/** Seconds from started_at to completed_at, or to `at` while the job runs. */
export function elapsedSecondsOf(job: Job, at = Date.now()): number {
  const end = job.completed_at ? Date.parse(job.completed_at) : at;
  const seconds = (end - Date.parse(job.started_at)) / 1000;
  return Number.isFinite(seconds) ? Math.max(0, Math.round(seconds * 1000) / 1000) : 0;
}

function progressOf(job: Job, at: number): JobProgress {
  const progress = job.progress ?? progressView({ status: job.status, heartbeats: [] });
  return { ...progress, elapsed_seconds: elapsedSecondsOf(job, at) };
}

/**
 * The original daemon's clients build their progress object from the whole
 * answer (the Python SDK needs `phase` at the top level), ours read `progress`:
 * every key of progress is in both places.
 */
export function progressAnswer(id: string, job: Job, at = Date.now()) {
  const progress = progressOf(job, at);
  return {
    job_id: id,
    status: job.status,
    ...progress,
    progress,
    started_at: job.started_at,
    ...(job.completed_at ? { completed_at: job.completed_at } : {}),
    ...(job.error ? { error: job.error } : {}),
    timestamp: new Date(at).toISOString(),
  };
}

export function etaAnswer(id: string, job: Job, at = Date.now()) {
  const progress = progressOf(job, at);
  const elapsedSeconds = progress.elapsed_seconds;
  const common = { elapsed: goDuration(elapsedSeconds), elapsed_seconds: elapsedSeconds, percent_complete: progress.percent_complete };
  const remaining = progress.estimated_remaining_seconds;
  let eta: Record<string, unknown>;
  let estimate: { estimated_remaining: string; estimated_remaining_seconds?: number };
  if (job.status === 'running' && remaining !== undefined) {
    eta = {
      time_remaining: goDuration(remaining),
      time_remaining_seconds: remaining,
      ...common,
      transfer_rate_mbps: progress.transfer_rate_mbps,
      bytes_remaining: Math.max(0, progress.total_bytes - progress.bytes_downloaded),
      estimated_completion: new Date(at + remaining * 1000).toISOString(),
    };
    estimate = { estimated_remaining: goDuration(remaining), estimated_remaining_seconds: remaining };
  } else if (job.status === 'running') {
    eta = { message: 'no estimate yet: the transfer rate is not known until bytes have moved', ...common, transfer_rate_mbps: progress.transfer_rate_mbps };
    estimate = { estimated_remaining: '' };
  } else if (job.status === 'pending') {
    eta = { message: 'the job has not started yet (no worker has picked it up)', ...common };
    estimate = { estimated_remaining: '' };
  } else {
    eta = {
      message: `the job has ended: ${job.status}`,
      ...common,
      ...(job.result ? { total_duration: goDuration(job.result.duration_seconds) } : {}),
    };
    estimate = job.status === 'completed' ? { estimated_remaining: '0s', estimated_remaining_seconds: 0 } : { estimated_remaining: '' };
  }
  return { job_id: id, status: job.status, ...estimate, eta, timestamp: new Date(at).toISOString() };
}
