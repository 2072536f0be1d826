// Control-plane activities: describe, prepare, the export session (open, keep
// alive, complete), cleanup. Short calls against the provider; the long one
// (keepLeaseAlive, the session keep-alive) heartbeats. The session activities keep
// the names they had when vSphere's lease was the only session: see ExportActivities.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { ErrorType } from '../core/errors.js';
import type { SourceRef } from '../core/export-contract.js';
import type { CleanupInput, CleanupResult, ExportActivities, PreparedExport } from './types.js';
import type { ExportActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import { ovaNeedsLocalOutput } from './ova.js';

type ControlActivities = Pick<
  ExportActivities,
  'describeVm' | 'prepareExport' | 'openLease' | 'keepLeaseAlive' | 'completeLease' | 'checkOutput' | 'cleanupExport'
>;

/** Progress reported to the source must only grow; keep-alive sends the best figure this worker knows. */
const HEARTBEAT_EVERY_MS = 5_000;

export function createControlActivities(deps: ExportActivityDeps): ControlActivities {
  const { providers } = deps;
  const activities: ControlActivities = {
    async describeVm({ source, vmPath }) {
      return whileHeartbeating(async () => {
        const provider = await providers.get(source);
        return provider.describeVm(vmPath);
      });
    },

    prepareExport: ({ jobId, source, vm, options }) =>
      whileHeartbeating(async (beat): Promise<PreparedExport> => {
        const provider = await providers.get(source);
        // A retry after the snapshot was made but before this activity completed
        // reuses it (recorded in the heartbeat) instead of leaving a stray snapshot.
        const earlier = Context.current().info.heartbeatDetails as { snapshotId?: string } | undefined;
        const takeSnapshot = async (): Promise<string> => {
          const snapshotId =
            earlier?.snapshotId ??
            (await provider.createSnapshot(
              vm.id,
              `hypersdk-export-${jobId}`,
              `Created by hypersdk export ${jobId}; ${options.keepSnapshots ? 'kept after it succeeds' : 'removed when the export ends'}`,
            ));
          beat({ snapshotId });
          return snapshotId;
        };
        if (provider.requiresSnapshot) {
          // A source read only from snapshots (AWS): a snapshot is always taken,
          // after the optional stop (a consistent one), unless the source is one.
          if (!provider.requiresSnapshot(vm)) return { target: { kind: 'vm', vmId: vm.id }, poweredOff: false };
          const stop = options.powerOff && vm.powerState === 'poweredOn' && earlier?.snapshotId === undefined;
          if (stop) await provider.powerOff(vm.id, { graceful: true, timeoutMs: options.shutdownTimeoutSeconds * 1_000 });
          const snapshotId = await takeSnapshot();
          return { target: { kind: 'snapshot', snapshotId }, createdSnapshotId: snapshotId, poweredOff: stop };
        }
        if (vm.powerState === 'poweredOff') return { target: { kind: 'vm', vmId: vm.id }, poweredOff: false };
        if (options.snapshot) {
          const snapshotId = await takeSnapshot();
          return { target: { kind: 'snapshot', snapshotId }, createdSnapshotId: snapshotId, poweredOff: false };
        }
        if (options.powerOff) {
          await provider.powerOff(vm.id, { graceful: true, timeoutMs: options.shutdownTimeoutSeconds * 1_000 });
          return { target: { kind: 'vm', vmId: vm.id }, poweredOff: true };
        }
        throw ApplicationFailure.create({
          type: ErrorType.VmPoweredOn,
          message: `VM "${vm.name}" is ${vm.powerState}: export it with snapshot: true (exports a snapshot, the VM keeps running) or power_off: true (shuts the guest down first)`,
          nonRetryable: true,
        });
      }),

    openLease: ({ source, target }) =>
      whileHeartbeating(async () => {
        const provider = await providers.get(source);
        return provider.openExportSession(target);
      }),

    async keepLeaseAlive({ source, leaseId: sessionId, intervalMs }) {
      const ctx = Context.current();
      const provider = await providers.get(source);
      let lastProgressAt = 0;
      for (;;) {
        const state = await provider.sessionState(sessionId);
        if (state === 'error' || state === 'done') {
          // LeaseLost is the wire name of a lost session of any source: the workflow reopens it.
          throw ApplicationFailure.create({
            type: ErrorType.LeaseLost,
            message: `export lease ${sessionId} is ${state === 'done' ? 'no longer open' : 'in error'}`,
            nonRetryable: true,
          });
        }
        if (Date.now() - lastProgressAt >= intervalMs) {
          await provider.keepSessionAlive(sessionId, deps.sessionProgress.percent(sessionId));
          lastProgressAt = Date.now();
        }
        ctx.heartbeat();
        await ctx.sleep(Math.min(HEARTBEAT_EVERY_MS, intervalMs)); // throws when the workflow cancels us
      }
    },

    completeLease: ({ source, leaseId: sessionId }) => whileHeartbeating(() => completeSession(source, sessionId)),

    async checkOutput({ sink, names, overwrite, archive }) {
      // Opening checks the worker's own rules (allowed roots, buckets), with overwrite too.
      const output = await deps.sinks.open(sink);
      // Before any disk is read: finalize could only refuse it once all were transferred.
      if (archive !== undefined && sink.kind !== 'local') throw ovaNeedsLocalOutput(archive);
      if (overwrite) return;
      const found = await output.existing(names);
      if (found.length === 0) return;
      throw ApplicationFailure.create({
        type: ErrorType.OutputExists,
        message: `${output.location} already holds ${found.join(', ')} from an earlier export; choose another output or submit with overwrite: true (the old files are replaced only once the new export has succeeded)`,
        nonRetryable: true,
        details: [{ files: found }],
      });
    },

    cleanupExport: (input) => whileHeartbeating(() => cleanupExport(input)),
  };

  async function completeSession(source: SourceRef, sessionId: string): Promise<void> {
    const provider = await providers.get(source);
    try {
      await provider.releaseSession(sessionId, { completed: true });
    } catch (err) {
      // Every byte is already in the sink and hashed; completing only tells the
      // source we are done. A session that vanished meanwhile (a vSphere lease
      // expired, or invisible to this worker's login after a worker restart)
      // changes nothing about the export, so it is not worth failing it for.
      const type = (err as { type?: string }).type;
      if (type !== ErrorType.LeaseLost && type !== ErrorType.VmNotFound) throw err;
      log.warn('export lease was gone at completion; the export is complete', { leaseId: sessionId, reason: (err as Error).message });
    } finally {
      deps.sessionProgress.forget(sessionId);
    }
  }

  async function cleanupExport({ source, sink, leaseId: sessionId, leaseCompleted: sessionCompleted, createdSnapshotId, keptSnapshotId, files }: CleanupInput): Promise<CleanupResult> {
    // Every step runs even if an earlier one fails; the first error is reported after.
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<void>) => {
      try {
        await step();
      } catch (err) {
        // Already gone (ManagedObjectNotFound) is what cleanup wants: not an error.
        if ((err as { type?: string }).type !== ErrorType.VmNotFound) errors.push(err);
      }
    };
    // The source is asked only when there is something to undo there: an export
    // refused by the worker's rules (vCenter not allowed) never connected, nor does its cleanup.
    if (sessionId && !sessionCompleted) {
      await attempt(async () => (await providers.get(source)).releaseSession(sessionId, { completed: false, reason: 'hypersdk export ended without completing' }));
      deps.sessionProgress.forget(sessionId);
    }
    if (createdSnapshotId) await attempt(async () => (await providers.get(source)).removeSnapshot(createdSnapshotId));
    if (keptSnapshotId) await attempt(async () => (await providers.get(source)).endSnapshotAccess?.(keptSnapshotId));
    const kept: string[] = [];
    // A sink the worker's rules refuse holds nothing of this job: nothing to remove.
    const output = files?.disks.length ? await deps.sinks.open(sink).catch(refusedSink) : undefined;
    if (files && output) {
      for (const name of files.disks) {
        await attempt(async () => {
          if (output.stages) {
            // Only what this job staged: an earlier job's verified copy (also one
            // this job reused), or another export's file of the same name, is
            // not ours to remove.
            const record = await output.readStaged(name);
            const keep = files.keepVerified && record?.verified === true;
            if (keep) kept.push(name);
            if (keep || record?.jobId !== files.jobId) return;
          }
          await output.discardStaged(name);
        });
      }
    }
    if (source.sealedCredentials) await attempt(() => providers.release(source));
    if (errors.length > 0) throw errors[0];
    return { kept };
  }

  return activities;
}

/** A sink refused by the worker's rules (never written): undefined; any other failure is thrown. */
function refusedSink(err: unknown): undefined {
  const type = (err as { type?: string }).type;
  if (type === ErrorType.OutputNotAllowed || type === ErrorType.BucketNotAllowed) return undefined;
  throw err;
}
