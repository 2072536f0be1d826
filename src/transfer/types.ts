// The transfer engine's public types. A TransferCheckpoint is plain JSON: the
// transfer activity heartbeats it, and a retried attempt passes it back to resume.
import type { FinishedFile, WriterState } from '../storage/sink.js';
import type { DiskWriter } from '../storage/sink.js';
import type { DiskSource } from '../core/source-provider.js';
import type { HashCheckpoint } from '../core/resumable-sha256.js';

/** What identifies the bytes being served, to notice a source that changed between attempts. */
export interface SourceIdentity {
  /** Total size from Content-Length (200) or Content-Range (206), when the server said. */
  sizeBytes?: number;
  etag?: string;
  lastModified?: string;
}

export type { HashCheckpoint } from '../core/resumable-sha256.js';

export interface TransferCheckpoint {
  version: 1;
  /** Every byte before this offset is durable in the sink. */
  offset: number;
  /** Sink resume state (S3: upload id and completed parts with ETags). */
  sink: WriterState;
  hash: HashCheckpoint;
  source: SourceIdentity;
  /** Total size when known (for progress), else undefined. */
  totalBytes?: number;
}

export interface TransferRequest {
  source: DiskSource;
  /**
   * The file's size when it is known before the GET as a true byte count (a
   * datastore HEAD's Content-Length, a flat extent's size), not an estimate. A
   * response that announces another size (Content-Length, Content-Range total), or
   * a body that ends short of it or runs past it, fails with non-retryable
   * SizeMismatch and the partial is removed: nothing of another size is published.
   */
  expectedBytes?: number;
  /** From OutputSink.openDiskWriter(name, { sizeBytes, checkpoint }); finished by the engine on success. */
  writer: DiskWriter;
  /** The checkpoint the writer was opened with (last heartbeat of the previous attempt). */
  checkpoint?: TransferCheckpoint;
  signal: AbortSignal;
  tls?: { insecure?: boolean };
  onCheckpoint(cp: TransferCheckpoint): void;
  /** Default 2000. Checkpoints are also emitted once at the end. */
  checkpointEveryMs?: number;
  /** No response headers within this time → retryable TransferFailed. Default 60 s. */
  headersTimeoutMs?: number;
  /** No body bytes within this time (a stalled source) → retryable TransferFailed. Default 60 s. */
  stallTimeoutMs?: number;
  /**
   * Hash on the shared worker thread (default true) when the writer allows it
   * (prefixHashing 'reread' and releasesChunks) and the attempt starts at 0; a
   * resumed attempt continues on the event loop with the re-hashed prefix.
   */
  hashOnWorker?: boolean;
}

export interface TransferResult {
  /** Size of the whole file. */
  bytes: number;
  /** Hex SHA-256 of the whole file, across resumes. */
  sha256: string;
  /** Offset this attempt started from (0 when it started over). */
  resumedFromOffset: number;
  /** A checkpoint was given but could not be used (server ignored Range, partial gone...). */
  restartedFromZero: boolean;
  /** Body bytes received over the network by this attempt (includes discarded ones). */
  bytesReceived: number;
  file: FinishedFile;
}
