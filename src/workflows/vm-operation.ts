// One change made to a VM on request (shutdown, power off, remove CD-ROMs): a
// short workflow around one activity, so that it is recorded in history (who
// asked, what was done, how it ended) like an export. Deterministic code only.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { VmOperationActivities, VmOperationActivityInput } from '../activities/vm-operations.js';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../core/errors.js';
import type { VmStateChange } from '../core/vm-description.js';
import { VmOperationErrorType, type VmOperation, type VmOperationInput, type VmOperationResult } from '../core/vm-operation-contract.js';

/** Beyond the operation's own timeout: time for the task to be picked up and the session opened. */
const SLACK_SECONDS = 30;

const ACTIVITY: Record<VmOperation, keyof VmOperationActivities> = {
  shutdown: 'vmShutdownGuest',
  poweroff: 'vmPowerOff',
  'remove-cdrom': 'vmRemoveCdroms',
};

export async function vmOperationWorkflow(input: VmOperationInput): Promise<VmOperationResult> {
  const activities = proxyActivities<VmOperationActivities>({
    // The gateway also bounds the whole workflow (its execution timeout): a
    // request that timed out never powers a VM off later because a worker came back.
    startToCloseTimeout: `${input.timeoutSeconds + SLACK_SECONDS} seconds`,
    heartbeatTimeout: '30 seconds',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '10 seconds',
      maximumAttempts: 3,
      nonRetryableErrorTypes: [
        ...NON_RETRYABLE_ERROR_TYPES,
        // A refused state change stays refused; a guest that did not shut down in
        // time is reported as such (non-retryable where it is raised), while a
        // vCenter that did not answer is tried again.
        ErrorType.InvalidPowerState,
        VmOperationErrorType.ToolsNotRunning,
        VmOperationErrorType.OperationNotSupported,
      ],
    },
  });
  const activityInput: VmOperationActivityInput = { source: input.source, vmPath: input.vmPath, timeoutMs: input.timeoutSeconds * 1000 };
  const outcome: VmStateChange = await activities[ACTIVITY[input.operation]](activityInput);
  return {
    ...outcome,
    operationId: workflowInfo().workflowId,
    operation: input.operation,
    vmPath: input.vmPath,
    completedAt: new Date().toISOString(),
  };
}
