// Method `auto`, per disk: the source says how each disk is best read (its file,
// resumable, or its export session's stream) and why; in the job's vocabulary
// the file is the `datastore` method and the session's stream `ovf`.
import type { DiskMethod } from '../core/export-contract.js';
import type { ExportActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import type { ChooseMethodsInput } from './types.js';

export function createChooseMethodsActivity(deps: ExportActivityDeps): { chooseMethods(input: ChooseMethodsInput): Promise<DiskMethod[]> } {
  return {
    chooseMethods: ({ source, vm, diskKeys }) =>
      whileHeartbeating(async () => {
        const provider = await deps.providers.get(source);
        const plans = await provider.planDiskReads(vm, diskKeys);
        return plans.map((p): DiskMethod => ({ diskKey: p.diskKey, method: p.via === 'file' ? 'datastore' : 'ovf', reason: p.reason }));
      }),
  };
}
