// Everything the worker registers: the bundle entry point for workflowsPath.
export { exportVmWorkflow, progressQuery } from './export.js';
export { vmOperationWorkflow } from './vm-operation.js';
