import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { workflowExecution } from '../../src/worker/create-worker.js';
import * as activities from '../fixtures/smoke-activities.js';
import type { smokeWorkflow, spinWorkflow } from '../fixtures/smoke-workflows.js';

describe('Temporal dev server', () => {
  it('runs a workflow that calls an activity and returns its result', async () => {
    const { temporal } = inject('services');
    const taskQueue = `smoke-${randomUUID()}`;
    const nativeConnection = await NativeConnection.connect({ address: temporal.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('../fixtures/smoke-workflows.ts', import.meta.url)),
      activities,
    });
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    try {
      const result = await worker.runUntil(
        client.workflow.execute<typeof smokeWorkflow>('smokeWorkflow', { taskQueue, workflowId: `smoke-${randomUUID()}`, args: ['vitest'] }),
      );
      // The activity really ran in this process's worker, not somewhere else.
      expect(result).toEqual({ caller: 'vitest', pid: process.pid });
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });

  it('stops a workflow that never yields after the deadlock timeout, with workflows on the main thread as export workers run them', async () => {
    const { temporal } = inject('services');
    const taskQueue = `smoke-${randomUUID()}`;
    const nativeConnection = await NativeConnection.connect({ address: temporal.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('../fixtures/smoke-workflows.ts', import.meta.url)),
      activities,
      ...workflowExecution,
    });
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    try {
      const handle = await client.workflow.start<typeof spinWorkflow>('spinWorkflow', { taskQueue, workflowId: `spin-${randomUUID()}` });
      const failure = await worker.runUntil(async () => {
        for (let i = 0; i < 60; i++) {
          const history = await handle.fetchHistory();
          const failed = history.events?.find((e) => e.workflowTaskFailedEventAttributes);
          if (failed) return failed.workflowTaskFailedEventAttributes!.failure?.message ?? '';
          await new Promise((r) => setTimeout(r, 500));
        }
        return 'no workflow task failure in 30 s';
      });
      expect(failure).toMatch(/Script execution timed out after 5000ms/);
      await handle.terminate('test done');
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  }, 60_000);
});
