// claimWorker: the first activity of an export to a local directory. Whichever
// worker of the shared task queue runs it answers with its own task queue; the
// workflow then sends every later activity of the job there, so the disks, the
// descriptor and any partial file a retry resumes from are all on one machine.

/** What claimWorker answers: where the job's activities go, and how long to wait for that worker. */
export interface WorkerClaim {
  /** `<shared task queue>@<identity>`: polled only by the worker(s) with this identity. */
  taskQueue: string;
  /** worker.identity of the claiming worker (stable across its restarts). */
  identity: string;
  /** worker.lost_timeout_seconds of the claiming worker, in ms. */
  lostTimeoutMs: number;
}

export interface ClaimWorkerActivities {
  claimWorker(): Promise<WorkerClaim>;
}

/** `claim` is fixed for the life of the worker: the answer needs no I/O. */
export function createClaimWorkerActivity(claim: WorkerClaim): ClaimWorkerActivities {
  return {
    claimWorker() {
      return Promise.resolve({ ...claim });
    },
  };
}
