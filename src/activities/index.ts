// The activity factory the worker registers. Activities receive their
// dependencies here instead of importing globals, so tests can build them
// against real services with their own settings.
import { createControlActivities } from './control.js';
import type { ExportActivityDeps } from './deps.js';
import { createFinalizeActivity } from './finalize.js';
import { createTransferActivity } from './transfer.js';
import type { ExportActivities } from './types.js';

export function createExportActivities(deps: ExportActivityDeps): ExportActivities {
  return {
    ...createControlActivities(deps),
    ...createTransferActivity(deps),
    ...createFinalizeActivity(deps),
  };
}

export type { ExportActivityDeps } from './deps.js';
export { LeaseProgressRegistry } from './lease-progress.js';
