// Request bodies: JSON or YAML (the original daemon's job files are YAML), with the
// size limit enforced by the bodyLimit middleware before this runs.
import type { Context } from 'hono';
import { LineCounter, parseDocument } from 'yaml';
import { HttpError } from './http-error.js';

function isYamlType(contentType: string): boolean {
  return /\b(yaml|yml)\b/i.test(contentType);
}

/** Parses the body; an empty body is `undefined`. Malformed input is a 400 that says where. */
export async function readBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return undefined;
  const contentType = c.req.header('content-type') ?? '';
  const looksJson = /^\s*[[{]/.test(text);
  if (/json/i.test(contentType) || (!isYamlType(contentType) && looksJson)) {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      if (/json/i.test(contentType) || !looksYaml(text)) {
        throw new HttpError(400, `body: malformed JSON: ${(err as Error).message}`, { field: 'body' });
      }
    }
  }
  return parseYaml(text);
}

function looksYaml(text: string): boolean {
  return /^\s*[\w"'-][^\n]*:\s/m.test(text);
}

function parseYaml(text: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const pos = lines.linePos(first.pos[0]);
    throw new HttpError(400, `body: malformed YAML at line ${pos.line}, column ${pos.col}: ${first.message.split('\n')[0]}`, {
      field: 'body',
      line: pos.line,
    });
  }
  try {
    return doc.toJS({ maxAliasCount: 50 }) as unknown;
  } catch (err) {
    throw new HttpError(400, `body: unusable YAML: ${(err as Error).message}`, { field: 'body' });
  }
}
