import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { failureOf } from './failures.js';

describe('failureOf', () => {
  it("reports the workflow's own failure (type, root message and what was kept), not the activity's bare cause", () => {
    const root = ApplicationFailure.create({ type: 'SinkError', message: 'ELOOP at disk2' });
    const activity = new ActivityFailure('Activity task failed', 'transferDisk', '7', RetryState.NON_RETRYABLE_FAILURE, 'worker', root);
    const top = ApplicationFailure.create({
      type: 'SinkError',
      message: 'ELOOP at disk2 (verified disks kept out of sight in /out for a resubmit of the same VM to the same output: vm-disk1.vmdk)',
      cause: activity,
    });
    const err = new WorkflowFailedError('Workflow execution failed', top, RetryState.NON_RETRYABLE_FAILURE);
    expect(failureOf(err)).toEqual({ type: 'SinkError', message: top.message });
  });
});
