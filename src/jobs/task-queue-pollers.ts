// Whether any worker polls a task queue for workflow tasks: the gateway refuses work
// nobody would pick up, and the test harness waits for a new worker's first poll.
import type { Client } from '@temporalio/client';

/** TASK_QUEUE_TYPE_WORKFLOW of Temporal's API. */
const WORKFLOW_TASK_QUEUE = 1;

/** True once Temporal lists a poller on the queue (it lists a worker only after its first poll arrives). */
export async function hasWorkflowPoller(temporal: Client, namespace: string, taskQueue: string): Promise<boolean> {
  const { pollers } = await temporal.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: WORKFLOW_TASK_QUEUE,
  });
  return Boolean(pollers?.length);
}
