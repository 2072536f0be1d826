// Where an export's activities run. An export to S3 can run anywhere: every worker
// reaches the bucket, and an upload resumes from its id. An export to a local
// directory cannot: its disks, its descriptor and the partial file a retry resumes
// from are on one machine. So it first claims a worker (claimWorker, on the shared
// queue), then sends every activity to that worker's own task queue, retries
// included. If that worker stays away longer than its lost timeout, the waiting
// activity fails with a SCHEDULE_TO_START timeout (which Temporal never retries)
// and the export fails with WorkerLost, naming the machine that has the files.
// Deterministic code only: the claim comes from an activity result.
import { ApplicationFailure, log, patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ClaimWorkerActivities, WorkerClaim } from '../activities/claim-worker.js';
import type { CleanupInput, CleanupResult, ExportActivities } from '../activities/types.js';
import type { ExportWorkflowInput, SinkRef } from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import { controlOptions, finalizeOptions, keepAliveOptions, transferOptions } from './activity-options.js';

/** The patch marker of exports that claim a worker (see claimWorkerFor). */
export const WORKER_AFFINITY_PATCH = 'worker-affinity';

/** The activity proxies the export workflow calls. */
export interface JobActivities {
  /** Control-plane calls (describe, output check, prepare, export session open/complete, cleanup). */
  control: ExportActivities;
  transferDisk: ExportActivities['transferDisk'];
  /** The activity type keepLeaseAlive (its recorded name): keeps the export session alive. */
  keepSessionAlive: ExportActivities['keepLeaseAlive'];
  /** Writes the output: waits for its cancellation to complete (finalizeOptions). */
  finalizeExport: ExportActivities['finalizeExport'];
}

/** Per-job overrides of the activity options: the export's input carries them (see ExportWorkflowInput). */
export type ActivityTuning = Pick<ExportWorkflowInput, 'controlHeartbeatTimeoutMs' | 'transferHeartbeatTimeoutMs'>;

function withHeartbeatTimeout(options: ActivityOptions, heartbeatTimeoutMs: number | undefined): ActivityOptions {
  return heartbeatTimeoutMs ? { ...options, heartbeatTimeout: heartbeatTimeoutMs } : options;
}

const tuned = (options: ActivityOptions, tuning: ActivityTuning) => withHeartbeatTimeout(options, tuning.controlHeartbeatTimeoutMs);
const tunedTransfer = (tuning: ActivityTuning) => withHeartbeatTimeout(transferOptions, tuning.transferHeartbeatTimeoutMs);

/** Every activity on the workflow's own (shared) task queue: any worker may run it. */
export function sharedQueueActivities(tuning: ActivityTuning = {}): JobActivities {
  return {
    control: proxyActivities<ExportActivities>(tuned(controlOptions, tuning)),
    transferDisk: proxyActivities<ExportActivities>(tunedTransfer(tuning)).transferDisk,
    keepSessionAlive: proxyActivities<ExportActivities>(keepAliveOptions).keepLeaseAlive,
    finalizeExport: proxyActivities<ExportActivities>(tuned(finalizeOptions, tuning)).finalizeExport,
  };
}

/**
 * For a local sink, asks the shared queue which worker takes the job (the first
 * worker to pick the claim up); undefined for S3, which needs no particular worker.
 */
export async function claimWorkerFor(sink: SinkRef, tuning: ActivityTuning = {}): Promise<WorkerClaim | undefined> {
  if (sink.kind !== 'local') return undefined;
  // Exports started before workers had queues of their own scheduled describeVm
  // first: replaying their histories must not find a claim there.
  if (!patched(WORKER_AFFINITY_PATCH)) return undefined;
  return proxyActivities<ClaimWorkerActivities>(tuned(controlOptions, tuning)).claimWorker();
}

/**
 * The proxies for one export: pinned to the claimed worker's queue for a local
 * sink, the shared queue for S3 (or a local sink with no claim).
 */
export function activitiesFor(sink: SinkRef, claim?: WorkerClaim, tuning: ActivityTuning = {}): JobActivities {
  if (sink.kind !== 'local' || !claim) return sharedQueueActivities(tuning);
  // Per attempt: a retry of a transfer whose worker was killed waits this long on
  // the worker's queue for it to come back (heartbeat timeout first, then this).
  const pin = (options: ActivityOptions): ActivityOptions => ({
    ...options,
    taskQueue: claim.taskQueue,
    scheduleToStartTimeout: claim.lostTimeoutMs,
  });
  const pinnedControl = proxyActivities<ExportActivities>(pin(tuned(controlOptions, tuning)));
  const { transferDisk } = proxyActivities<ExportActivities>(pin(tunedTransfer(tuning)));
  const { keepLeaseAlive: keepSessionAlive } = proxyActivities<ExportActivities>(pin(keepAliveOptions));
  const { finalizeExport } = proxyActivities<ExportActivities>(pin(tuned(finalizeOptions, tuning)));
  const shared = sharedQueueActivities(tuning);

  // Once one activity has found the worker gone, no other waits for it again.
  let lost = false;
  const guarded =
    <A extends unknown[], R>(activity: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (lost) throw workerLost(claim, activity);
      try {
        return await call(...args);
      } catch (err) {
        if (!isScheduleToStartTimeout(err)) throw err;
        lost = true;
        throw workerLost(claim, activity, err);
      }
    };

  // Cleanup also runs after WorkerLost (and on cancellation, when the worker may
  // be gone too). The export session and the snapshot are the source's: any
  // worker can release them. The files are on the lost machine, and a file of the
  // same name on another machine is not this export's to remove.
  const cleanupExport = async (input: CleanupInput): Promise<CleanupResult> => {
    if (!lost) {
      try {
        return await pinnedControl.cleanupExport(input);
      } catch (err) {
        if (!isScheduleToStartTimeout(err)) throw err;
        lost = true;
      }
    }
    log.warn('export worker lost: cleaning up the source on any worker; its files stay on its machine', {
      identity: claim.identity,
      taskQueue: claim.taskQueue,
      disks: input.files?.disks ?? [],
    });
    const { files: _files, ...sourceOnly } = input;
    return shared.control.cleanupExport(sourceOnly);
  };

  const control = new Proxy(pinnedControl, {
    get(target, name, receiver) {
      if (name === 'cleanupExport') return cleanupExport;
      const value: unknown = Reflect.get(target, name, receiver);
      return typeof value === 'function' && typeof name === 'string'
        ? guarded(name, value as (...args: unknown[]) => Promise<unknown>)
        : value;
    },
  });
  return {
    control,
    transferDisk: guarded('transferDisk', transferDisk),
    // Named by its activity type: the WorkerLost failure says which activity waited.
    keepSessionAlive: guarded('keepLeaseAlive', keepSessionAlive),
    finalizeExport: guarded('finalizeExport', finalizeExport),
  };
}

/** A SCHEDULE_TO_START timeout anywhere in the cause chain (read by field, never instanceof). */
export function isScheduleToStartTimeout(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current && typeof current === 'object'; depth++) {
    if ((current as { timeoutType?: unknown }).timeoutType === 'SCHEDULE_TO_START') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function workerLost(claim: WorkerClaim, activity: string, cause?: unknown): ApplicationFailure {
  const seconds = Math.round(claim.lostTimeoutMs / 1000);
  return ApplicationFailure.create({
    type: ErrorType.WorkerLost,
    message:
      `the worker ${claim.identity} that holds this export's files has been gone for more than ${seconds} s; ` +
      `its partial files are on that machine (activity ${activity}, task queue ${claim.taskQueue})`,
    nonRetryable: true,
    details: [{ identity: claim.identity, taskQueue: claim.taskQueue, lostTimeoutMs: claim.lostTimeoutMs, activity }],
    // Kept as the cause: the ActivityFailure -> TimeoutFailure(SCHEDULE_TO_START) chain says what happened.
    ...(cause ? { cause: cause as Error } : {}),
  });
}
