// POST /vms/shutdown, /vms/poweroff, /vms/remove-cdrom: each request starts one
// short workflow (id vmop-<op>-<uuid>), so the change is recorded in Temporal
// history like an export, and answers with its outcome once it has ended.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Context } from 'hono';
import { randomUUID } from 'node:crypto';
import { sealCredentials } from '../../config/secrets.js';
import type { HyperConfig } from '../../config/types.js';
import type { SourceRef } from '../../core/export-contract.js';
import { ErrorType } from '../../core/errors.js';
import { hasWorkflowPoller } from '../../jobs/task-queue-pollers.js';
import {
  VM_OPERATION_WORKFLOW_TYPE,
  VmOperationErrorType,
  vmOperationId,
  type VmOperation,
  type VmOperationInput,
  type VmOperationResult,
} from '../../core/vm-operation-contract.js';
import type { vmOperationWorkflow } from '../../workflows/vm-operation.js';
import { failureType, rootMessage } from '../../workflows/failures.js';
import { readBody } from '../body.js';
import { badRequest, HttpError, now } from '../http-error.js';
import { inlineCredentials, parseVmRequest } from '../vm-requests.js';
import { findProfile } from '../../config/profiles.js';

/**
 * Beyond the operation's own timeout: the workflow may run this much longer
 * (a worker picking it up, a vCenter login) before Temporal ends it, so it never
 * changes a VM long after the client stopped waiting.
 */
export const WORKFLOW_SLACK_SECONDS = 30;
/** The gateway waits a little longer than the workflow may run, to report how it ended. */
const WAIT_SLACK_SECONDS = WORKFLOW_SLACK_SECONDS + 5;

const BAD_INPUT: Record<string, string> = {
  [ErrorType.InvalidInput]: 'vm_path',
  [ErrorType.ProfileNotFound]: 'profile',
  [ErrorType.VcenterNotAllowed]: 'vcenter.server',
  [ErrorType.CredentialsNotForJob]: 'vcenter',
};

function sourceOf(config: HyperConfig, request: ReturnType<typeof parseVmRequest>, operationId: string): SourceRef {
  const inline = inlineCredentials(config, request.vcenter);
  // Sealed for this operation's workflow id: the worker opens them for it alone.
  if (inline) return { provider: 'vsphere', sealedCredentials: sealCredentials(config.secretsKey, inline.credentials, operationId) };
  const profile = request.profile ?? config.vsphere.defaultProfile;
  const known = Object.keys(config.vsphere.profiles);
  // A gateway without profiles leaves the choice to the workers (scale-out), as submit does.
  if (known.length > 0 && !findProfile(config.vsphere.profiles, profile)) {
    throw badRequest('profile', `unknown vCenter profile "${profile}" (configured: ${known.join(', ')})`);
  }
  return { provider: 'vsphere', profile };
}

/** The workflow's result, or undefined when it has not ended within `ms`. */
async function resultWithin(handle: WorkflowHandle<typeof vmOperationWorkflow>, ms: number): Promise<VmOperationResult | undefined> {
  const result = handle.result();
  // Whatever it ends with after we stopped waiting is in its history, not ours to report.
  result.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([result, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Temporal ended the workflow (or an activity) at a bound: a TimeoutFailure in the cause chain, which has no application type. */
function endedByTimeout(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current && typeof current === 'object'; depth++) {
    if ((current as { name?: unknown }).name === 'TimeoutFailure') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function failed(err: unknown, operation: VmOperation, vmPath: string, operationId: string, timeoutSeconds: number): HttpError {
  const type = failureType(err);
  const message = rootMessage(err);
  const extra = { operation_id: operationId, ...(type ? { error_type: type } : {}) };
  if (type === ErrorType.VmNotFound) return new HttpError(404, `vm_path: ${message}`, { field: 'vm_path', ...extra });
  const field = type ? BAD_INPUT[type] : undefined;
  if (field) return new HttpError(400, `${field}: ${message}`, { field, ...extra });
  if (type === ErrorType.Timeout || endedByTimeout(err)) {
    return new HttpError(504, `${operation} of ${vmPath} did not finish within ${timeoutSeconds} s: ${message}`, extra);
  }
  if (type === VmOperationErrorType.OperationNotSupported) return new HttpError(501, message, extra);
  return new HttpError(502, `vCenter refused ${operation} of ${vmPath}: ${message}`, extra);
}

/**
 * Refuses (503) when no worker polls the task queue: the operation would only wait
 * out its timeout (up to an hour) and then be dropped.
 */
async function requireWorker(config: HyperConfig, temporal: Client): Promise<void> {
  if (!(await hasWorkflowPoller(temporal, config.temporal.namespace, config.temporal.taskQueue))) {
    throw new HttpError(503, `no worker polls task queue ${config.temporal.taskQueue}: start hypervisord (or a worker) for that queue, then retry`);
  }
}

export function vmOperationHandler(config: HyperConfig, temporal: Client, operation: VmOperation) {
  return async (c: Context) => {
    const request = parseVmRequest(await readBody(c));
    if (request.provider === 'aws' || request.provider === 'azure') {
      const stops = request.provider === 'aws' ? 'stops an instance before its snapshots' : 'deallocates a VM before its snapshots';
      throw badRequest('provider', `/vms/${operation} is not supported for provider ${request.provider} (it has /vms/list and /vms/info); an export job's options.power_off ${stops}`);
    }
    await requireWorker(config, temporal);
    const operationId = vmOperationId(operation, randomUUID());
    const input: VmOperationInput = {
      operationId,
      operation,
      vmPath: request.vm_path,
      timeoutSeconds: request.timeoutSeconds,
      source: sourceOf(config, request, operationId),
      requestedAt: now(),
    };
    const handle = await temporal.workflow.start<typeof vmOperationWorkflow>(VM_OPERATION_WORKFLOW_TYPE, {
      taskQueue: config.temporal.taskQueue,
      workflowId: operationId,
      args: [input],
      workflowExecutionTimeout: `${request.timeoutSeconds + WORKFLOW_SLACK_SECONDS} seconds`,
    });
    let result: VmOperationResult | undefined;
    try {
      result = await resultWithin(handle, (request.timeoutSeconds + WAIT_SLACK_SECONDS) * 1000);
    } catch (err) {
      throw failed(err, operation, request.vm_path, operationId, request.timeoutSeconds);
    }
    if (!result) {
      throw new HttpError(504, `${operation} of ${request.vm_path} did not finish within ${request.timeoutSeconds} s; its record is workflow ${operationId}`, {
        operation_id: operationId,
      });
    }
    return c.json({
      success: true,
      message: result.message,
      operation_id: operationId,
      operation,
      vm_path: request.vm_path,
      vm_name: result.vmName,
      changed: result.changed,
      power_state: result.powerState,
      ...(result.removedCdroms ? { removed_cdroms: result.removedCdroms } : {}),
      timestamp: now(),
    });
  };
}
