// The export workflow's hold on the source's export session (vSphere: the NFC
// export lease), which serves the disks read by stream (method ovf). Deterministic
// code only: every call to the source is an activity.
//
// The activities keep the names they were first recorded with (openLease,
// keepLeaseAlive, completeLease, cleanupExport's leaseId): histories of running
// exports hold them, so renaming them would break their replay.
import { ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import type { PreparedExport } from '../activities/types.js';
import type { ExportWorkflowInput } from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import type { ExportSession } from '../core/source-provider.js';
import { failureType } from './failures.js';
import type { JobActivities } from './worker-affinity.js';

/** How often one export session may be lost and reopened before the export gives up. */
export const MAX_SESSION_REOPENS = 5;
/** How often the keep-alive renews the session (vSphere times a lease out after 5 minutes without progress). */
const SESSION_KEEPALIVE_MS = 30_000;

/**
 * The activities the keeper calls, asked for at each call: the workflow
 * re-targets its proxies at the worker that claims a local export.
 */
export type SessionActivities = () => Pick<JobActivities, 'control' | 'keepSessionAlive'>;

/**
 * Owns the export session for the workflow: opens it (falling back to file reads
 * when the source refuses one and the method is auto), keeps it alive with a
 * heartbeating activity, and reopens it at most MAX_SESSION_REOPENS times when it
 * is lost. Transfers that notice a lost session wait for the one reopen.
 */
export class ExportSessionKeeper {
  current: ExportSession | undefined;
  /** The session was released as completed: cleanup has nothing to abort. */
  completed = false;
  /** How many times the session was reopened: a transfer tells by it whether the session it lost is already replaced. */
  generation = 0;
  private prepared: PreparedExport | undefined;
  private keepAliveScope: CancellationScope | undefined;
  private reopening: Promise<void> | undefined;
  private opening: Promise<void> | undefined;
  /** Whether a disk still reads through the session (reopened between transfers only then). */
  needed: () => boolean = () => true;

  constructor(
    private readonly input: ExportWorkflowInput,
    private readonly activities: SessionActivities,
  ) {}

  /**
   * Opens the session unless the job reads every disk from its file; answers the
   * job's method for the disks. `fallback: false`: some disk cannot be read from
   * its file, so a refused session fails the export.
   */
  async open(prepared: PreparedExport, { fallback = true }: { fallback?: boolean } = {}): Promise<'ovf' | 'datastore'> {
    this.prepared = prepared;
    if (this.input.method === 'datastore') return 'datastore';
    try {
      this.current = await this.activities().control.openLease({ source: this.input.source, target: prepared.target });
    } catch (err) {
      if (fallback && this.input.method === 'auto' && failureType(err) === ErrorType.NotSupported) return 'datastore';
      throw err;
    }
    this.startKeepAlive();
    return 'ovf';
  }

  /** Opens the session once for disks that move to the stream mid-export (NotSupported: the source has no export session). */
  async ensureOpen(prepared: PreparedExport): Promise<void> {
    if (this.current) return;
    this.opening ??= this.open(prepared, { fallback: false }).then(() => undefined);
    await this.opening;
  }

  async reopen(seenGeneration: number): Promise<void> {
    if (seenGeneration !== this.generation) return; // someone already reopened it
    this.reopening ??= this.doReopen().finally(() => (this.reopening = undefined));
    await this.reopening;
  }

  private async doReopen(): Promise<void> {
    if (this.generation >= MAX_SESSION_REOPENS) {
      // Message and type as clients have always seen them (vSphere's words).
      throw ApplicationFailure.create({ type: ErrorType.LeaseLost, message: 'the export lease was lost too often', nonRetryable: true });
    }
    this.stopKeepAlive();
    const old = this.current;
    this.current = undefined;
    const { control } = this.activities();
    if (old) {
      // Released as not completed; the output is left alone (no files).
      await control.cleanupExport({ source: this.input.source, sink: this.input.sink, leaseId: old.id, leaseCompleted: false });
    }
    this.current = await control.openLease({ source: this.input.source, target: this.prepared!.target });
    this.generation++;
    this.startKeepAlive();
  }

  /** Releases the session as completed: every disk it served is in the sink. */
  async complete(): Promise<void> {
    this.stopKeepAlive();
    if (!this.current) return;
    await this.activities().control.completeLease({ source: this.input.source, leaseId: this.current.id });
    this.completed = true;
  }

  stopKeepAlive(): void {
    this.keepAliveScope?.cancel();
    this.keepAliveScope = undefined;
  }

  private startKeepAlive(): void {
    const session = this.current;
    if (!session) return;
    const generation = this.generation;
    const scope = new CancellationScope();
    this.keepAliveScope = scope;
    scope
      .run(() => this.activities().keepSessionAlive({ source: this.input.source, leaseId: session.id, intervalMs: SESSION_KEEPALIVE_MS }))
      .catch(async (err: unknown) => {
        if (isCancellation(err)) return;
        // The session died between transfers: reopen it now rather than on the next failure.
        if (failureType(err) === ErrorType.LeaseLost && this.needed()) await this.reopen(generation).catch(() => undefined);
      });
  }
}
