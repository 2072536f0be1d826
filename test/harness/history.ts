import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

/**
 * A workflow history as searchable text with every payload decoded: payload
 * bytes are base64 in the JSON form, so a secret inside one would not show up in
 * a plain JSON.stringify of the history.
 */
export function decodedHistoryText(history: temporal.api.history.v1.IHistory): string {
  const parts: string[] = [];
  const visit = (node: unknown): void => {
    if (node instanceof Uint8Array) {
      parts.push(Buffer.from(node).toString('utf8'));
      return;
    }
    if (Array.isArray(node)) return node.forEach(visit);
    if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (typeof value === 'string' && (key === 'data' || key === 'encoding')) parts.push(Buffer.from(value, 'base64').toString('utf8'));
        visit(value);
      }
    }
  };
  visit(history);
  return `${JSON.stringify(history)}\n${parts.join('\n')}`;
}

/** Results of completed activities of one type, in history order. */
export async function activityResults<T>(handle: WorkflowHandle, type: string): Promise<T[]> {
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const out: T[] = [];
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(event.eventId), s.activityType?.name ?? '');
    const c = event.activityTaskCompletedEventAttributes;
    if (c && scheduled.get(String(c.scheduledEventId)) === type) {
      const payload = c.result?.payloads?.[0];
      if (payload) out.push(defaultPayloadConverter.fromPayload<T>(payload));
    }
  }
  return out;
}

/** One activity execution as the history records it (Temporal writes the started event of the last attempt only). */
export interface ActivityRun {
  type: string;
  /** The task queue it was scheduled on. */
  taskQueue: string;
  /** SDK identity of the worker that ran the last attempt; undefined if no attempt ever started. */
  identity?: string;
  /** Number of the last attempt. */
  attempt?: number;
  outcome?: 'completed' | 'failed' | 'timed_out' | 'canceled';
}

/** Every activity of a workflow, in the order they were scheduled. */
export async function activityRuns(handle: WorkflowHandle): Promise<ActivityRun[]> {
  const history = await handle.fetchHistory();
  const runs = new Map<string, ActivityRun>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      runs.set(String(event.eventId), { type: scheduled.activityType?.name ?? '', taskQueue: scheduled.taskQueue?.name ?? '' });
      continue;
    }
    const started = event.activityTaskStartedEventAttributes;
    const run = (id: unknown) => runs.get(String(id));
    if (started) Object.assign(run(started.scheduledEventId) ?? {}, { identity: started.identity ?? '', attempt: started.attempt ?? 0 });
    const ended: [ActivityRun['outcome'], { scheduledEventId?: unknown } | null | undefined][] = [
      ['completed', event.activityTaskCompletedEventAttributes],
      ['failed', event.activityTaskFailedEventAttributes],
      ['timed_out', event.activityTaskTimedOutEventAttributes],
      ['canceled', event.activityTaskCanceledEventAttributes],
    ];
    for (const [outcome, attrs] of ended) if (attrs) Object.assign(run(attrs.scheduledEventId) ?? {}, { outcome });
  }
  return [...runs.values()];
}
