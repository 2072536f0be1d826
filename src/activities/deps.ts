import type { SinkRef } from '../export/contract.js';
import type { OutputSink } from '../storage/sink.js';
import type { ProviderPool } from '../worker/provider-pool.js';
import type { LeaseProgressRegistry } from './lease-progress.js';

/** What the export activities need from the worker that hosts them. */
export interface ExportActivityDeps {
  providers: ProviderPool;
  sinks: { open(ref: SinkRef): Promise<OutputSink> };
  leaseProgress: LeaseProgressRegistry;
  /** How often a transfer commits and heartbeats its offset (default 2 s). */
  checkpointEveryMs: number;
  /** Bytes past which an NFC transfer that must start over logs a warning (default 1 GiB). */
  restartWarningBytes?: number;
}
