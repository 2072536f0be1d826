// The VM operation workflow's public contract (shutdown, power off, remove CD-ROMs):
// one short workflow per request, so each change made to a VM is recorded in
// Temporal history like an export. The gateway, the worker and the tests import
// these; everything is plain JSON and carries no secret. No Node built-ins: the
// workflow bundle imports this file.
import type { SourceRef } from './export-contract.js';
import type { VmStateChange } from './vm-description.js';

export const VM_OPERATION_WORKFLOW_TYPE = 'vmOperationWorkflow';

/** The operations, as the REST routes (/vms/<op>) and `hyperctl vm -op` name them. */
export const VM_OPERATIONS = ['shutdown', 'poweroff', 'remove-cdrom'] as const;
export type VmOperation = (typeof VM_OPERATIONS)[number];

export const isVmOperation = (value: string): value is VmOperation => (VM_OPERATIONS as readonly string[]).includes(value);

/** Workflow ids: `vmop-<op>-<uuid>`, so history listings show what was done at a glance. */
export const VM_OPERATION_ID_PREFIX = 'vmop-';
export const vmOperationId = (operation: VmOperation, uuid: string): string => `${VM_OPERATION_ID_PREFIX}${operation}-${uuid}`;

/** The original's default wait for a guest shutdown (5 minutes); also the bound of the other operations. */
export const DEFAULT_VM_OPERATION_TIMEOUT_SECONDS = 300;
export const MAX_VM_OPERATION_TIMEOUT_SECONDS = 3600;

/** Failure types of the VM operations beside the shared ones (core/errors.ts). Never retried. */
export const VmOperationErrorType = {
  /** A graceful shutdown needs VMware Tools running in the guest (vCenter's ToolsUnavailable). */
  ToolsNotRunning: 'ToolsNotRunning',
  /** The worker's source provider has no VM operations. */
  OperationNotSupported: 'OperationNotSupported',
} as const;

export interface VmOperationInput {
  operationId: string;
  operation: VmOperation;
  vmPath: string;
  /** How long the operation may take (guest shutdown: the wait for poweredOff). */
  timeoutSeconds: number;
  source: SourceRef;
  requestedAt: string;
}

/** What one operation did on the provider. */
export type VmOperationOutcome = VmStateChange;

export interface VmOperationResult extends VmOperationOutcome {
  operationId: string;
  operation: VmOperation;
  vmPath: string;
  completedAt: string;
}
