import type { VsphereProfile } from '../config/types.js';
import type { SinkRef, SourceRef } from '../core/export-contract.js';
import type { SourceProvider } from '../core/source-provider.js';
import type { OutputSink } from '../storage/sink.js';
import type { SessionProgressRegistry } from './session-progress.js';

/** The sessions the activities use (the worker's ProviderPool): one per source, opened on first use. */
export interface SourceSessions {
  get(source: SourceRef): Promise<SourceProvider>;
  /** The vCenter profile a source resolves to (certificate pin, insecure). */
  profile(source: SourceRef): VsphereProfile;
  /** Logs out a job's inline-credential session. */
  release(source: SourceRef): Promise<void>;
}

/** What the export activities need from the worker that hosts them. */
export interface ExportActivityDeps {
  providers: SourceSessions;
  sinks: { open(ref: SinkRef): Promise<OutputSink> };
  sessionProgress: SessionProgressRegistry;
  /** How often a transfer commits and heartbeats its offset (default 2 s). */
  checkpointEveryMs: number;
  /** Bytes past which a streamed transfer that must start over logs a warning (default 1 GiB). */
  restartWarningBytes?: number;
}
