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
