// The S3 writer's checkpoint must stay small whatever the part count (heartbeat
// details are capped at 64 KiB; 10,000 ETags are hundreds of KB). So it names the
// durable prefix by its length and a SHA-256 over the ordered parts instead of
// listing them; on resume ListParts gives the ETags back and the digest proves
// S3 still holds exactly the parts the checkpoint counted.
import { createHash, type Hash } from 'node:crypto';
import type { CompletedPart, LegacyS3WriterState, S3WriterState } from './sink.js';

/** SHA-256 that grows part by part: "partNumber:etag:size\n" for each part, in order. */
export class PartsDigest {
  private hash: Hash = createHash('sha256');

  add(part: CompletedPart): void {
    // Quotes stripped: the ETag is the same whether UploadPart or ListParts reported it,
    // even on S3-compatible stores that quote it in one answer and not the other.
    this.hash.update(`${part.partNumber}:${unquoted(part.etag)}:${part.sizeBytes}\n`);
  }

  /** Hex digest of the parts added so far; more parts may follow. */
  hex(): string {
    return this.hash.copy().digest('hex');
  }
}

function unquoted(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

export function digestOfParts(parts: Iterable<CompletedPart>): string {
  const d = new PartsDigest();
  for (const p of parts) d.add(p);
  return d.hex();
}

/**
 * The compact form of either state shape. Checkpoints written before the compact
 * form (a worker upgraded mid-export reads them from Temporal history) list every
 * part: they convert when the parts are exactly 1..n, and are refused (undefined,
 * so the upload restarts) otherwise.
 */
export function compactS3State(state: S3WriterState | LegacyS3WriterState): S3WriterState | undefined {
  if (!('parts' in state)) return state;
  if (!Array.isArray(state.parts) || state.parts.some((p, i) => p.partNumber !== i + 1)) return undefined;
  const { kind, key, uploadId, partSizeBytes } = state;
  return { kind, key, uploadId, partSizeBytes, partsDone: state.parts.length, partsDigest: digestOfParts(state.parts) };
}
