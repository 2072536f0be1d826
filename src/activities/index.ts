// The activity factory the worker registers. Activities receive their
// dependencies here instead of importing globals, so tests can build them
// against real services with their own settings.
import { createChooseMethodsActivity } from './choose-methods.js';
import { createClaimWorkerActivity, type ClaimWorkerActivities, type WorkerClaim } from './claim-worker.js';
import { createControlActivities } from './control.js';
import type { ExportActivityDeps } from './deps.js';
import { createFinalizeActivity } from './finalize.js';
import { createPrepareOvaActivity } from './ova-in-place.js';
import { createTransferActivity } from './transfer.js';
import type { ExportActivities } from './types.js';

/** `claim` is what claimWorker answers: this worker's own task queue and identity. */
export function createExportActivities(deps: ExportActivityDeps, claim: WorkerClaim): ExportActivities & ClaimWorkerActivities {
  return {
    ...createClaimWorkerActivity(claim),
    ...createControlActivities(deps),
    ...createChooseMethodsActivity(deps),
    ...createTransferActivity(deps),
    ...createFinalizeActivity(deps),
    ...createPrepareOvaActivity(deps),
  };
}

export type { ExportActivityDeps } from './deps.js';
export type { ClaimWorkerActivities, WorkerClaim } from './claim-worker.js';
export { SessionProgressRegistry } from './session-progress.js';
