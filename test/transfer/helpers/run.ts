// Shared steps of the transfer tests: run one attempt, collecting checkpoints and
// the failure (if any) instead of throwing.
import { ApplicationFailure } from '@temporalio/common';
import type { DiskWriter, OutputSink } from '../../../src/storage/sink.js';
import { transferDisk } from '../../../src/transfer/transfer-disk.js';
import type { TransferCheckpoint, TransferRequest, TransferResult } from '../../../src/transfer/types.js';

export interface Attempt {
  result?: TransferResult;
  error?: unknown;
  checkpoints: { at: number; cp: TransferCheckpoint }[];
  last?: TransferCheckpoint;
}

export async function attempt(
  sink: OutputSink,
  name: string,
  url: string,
  options: Partial<Omit<TransferRequest, 'writer' | 'onCheckpoint'>> & { sizeBytes?: number; writer?: DiskWriter } = {},
): Promise<Attempt> {
  const checkpoints: Attempt['checkpoints'] = [];
  // A writer of the caller's own (an image writer), or the sink's ordinary one.
  const writer = options.writer ?? (await sink.openDiskWriter(name, { sizeBytes: options.sizeBytes, checkpoint: options.checkpoint }));
  const out: Attempt = { checkpoints };
  try {
    out.result = await transferDisk({
      source: options.source ?? { url, headers: {} },
      writer,
      checkpoint: options.checkpoint,
      expectedBytes: options.expectedBytes,
      signal: options.signal ?? new AbortController().signal,
      tls: options.tls,
      checkpointEveryMs: options.checkpointEveryMs ?? 100,
      stallTimeoutMs: options.stallTimeoutMs,
      onCheckpoint: (cp) => {
        // through JSON, exactly as a Temporal heartbeat would carry it
        checkpoints.push({ at: Date.now(), cp: JSON.parse(JSON.stringify(cp)) as TransferCheckpoint });
      },
    });
  } catch (err) {
    out.error = err;
  }
  out.last = checkpoints.at(-1)?.cp;
  return out;
}

export function failureType(err: unknown): string | undefined {
  return err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof ApplicationFailure && !err.nonRetryable;
}
