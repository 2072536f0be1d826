// Activities of the VM operation workflow: one per operation, so the history
// names what was done. They get the worker's provider sessions from the factory,
// like the export activities.
import { ApplicationFailure } from '@temporalio/activity';
import type { SourceRef } from '../core/export-contract.js';
import type { SourceProvider, VmStateOperations } from '../core/source-provider.js';
import type { VmStateChange } from '../core/vm-description.js';
import { VmOperationErrorType } from '../core/vm-operation-contract.js';
import type { SourceSessions } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';

export interface VmOperationActivityInput {
  source: SourceRef;
  vmPath: string;
  timeoutMs: number;
}

export interface VmOperationActivities {
  vmShutdownGuest(input: VmOperationActivityInput): Promise<VmStateChange>;
  vmPowerOff(input: VmOperationActivityInput): Promise<VmStateChange>;
  vmRemoveCdroms(input: VmOperationActivityInput): Promise<VmStateChange>;
}

export interface VmOperationActivityDeps {
  providers: SourceSessions;
}

function operationsOf(provider: SourceProvider): VmStateOperations {
  const candidate = provider as Partial<VmStateOperations>;
  if (typeof candidate.shutdownGuest === 'function' && typeof candidate.hardPowerOff === 'function' && typeof candidate.removeCdroms === 'function') {
    return candidate as VmStateOperations;
  }
  throw ApplicationFailure.create({
    type: VmOperationErrorType.OperationNotSupported,
    message: 'this source provider cannot shut down, power off or reconfigure VMs',
    nonRetryable: true,
  });
}

export function createVmOperationActivities(deps: VmOperationActivityDeps): VmOperationActivities {
  const { providers } = deps;
  // Heartbeats while vCenter works (a guest shutdown waits up to its timeout), so
  // a dead worker is noticed long before the operation's own bound.
  const run = (input: VmOperationActivityInput, work: (ops: VmStateOperations) => Promise<VmStateChange>) =>
    whileHeartbeating(async () => {
      try {
        return await work(operationsOf(await providers.get(input.source)));
      } finally {
        // Inline credentials open a session for this operation only.
        if (input.source.sealedCredentials) await providers.release(input.source);
      }
    });
  return {
    vmShutdownGuest: (input) => run(input, (ops) => ops.shutdownGuest(input.vmPath, input.timeoutMs)),
    vmPowerOff: (input) => run(input, (ops) => ops.hardPowerOff(input.vmPath, input.timeoutMs)),
    vmRemoveCdroms: (input) => run(input, (ops) => ops.removeCdroms(input.vmPath, input.timeoutMs)),
  };
}
