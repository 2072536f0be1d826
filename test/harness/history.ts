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
