// The durable VM export: describe -> prepare -> lease (kept alive, reopened if
// lost) -> one transfer per disk -> finalize -> cleanup (always).
// Deterministic code only: all I/O happens in activities.
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  setHandler,
} from '@temporalio/workflow';
import type { PreparedExport, TransferredDisk } from '../activities/types.js';
import { diskFileName } from '../export/disk-files.js';
import {
  PROGRESS_QUERY,
  type DiskProgress,
  type ExportProgress,
  type ExportResult,
  type ExportWorkflowInput,
} from '../export/contract.js';
import { ErrorType } from '../export/errors.js';
import type { ExportLease, VmDescription } from '../providers/types.js';
import { failureDetails, failureType, rootMessage } from './failures.js';
import { activitiesFor, claimWorkerFor, sharedQueueActivities } from './worker-affinity.js';

export const progressQuery = defineQuery<ExportProgress>(PROGRESS_QUERY);

// Module state is per workflow execution (the SDK isolates it): re-targeted below
// at the worker that claims a local export.
let { control, transferDisk, keepLeaseAlive } = sharedQueueActivities();

/** How often one lease may be lost and reopened before the export gives up. */
const MAX_LEASE_REOPENS = 5;
const LEASE_KEEPALIVE_MS = 30_000;

export async function exportVmWorkflow(input: ExportWorkflowInput): Promise<ExportResult> {
  const startedAt = Date.now();
  const progress: ExportProgress = {
    phase: 'pending',
    disks: [],
    startedAt: new Date(startedAt).toISOString(),
    updatedAt: new Date(startedAt).toISOString(),
  };
  const setPhase = (phase: ExportProgress['phase']) => {
    progress.phase = phase;
    progress.updatedAt = new Date().toISOString();
  };
  setHandler(progressQuery, () => progress);

  const { source, sink } = input;
  let prepared: PreparedExport | undefined;
  const leases = new LeaseKeeper(input);
  let succeeded = false;
  let fileNames: string[] = [];

  try {
    setPhase('connecting');
    ({ control, transferDisk, keepLeaseAlive } = activitiesFor(sink, await claimWorkerFor(sink)));
    const vm = await control.describeVm({ source, vmPath: input.vmPath });
    progress.vmName = vm.name;
    progress.disks = vm.disks.map(
      (d, i): DiskProgress => ({
        key: d.key,
        fileName: diskFileName(vm, i),
        sizeBytes: d.capacityBytes,
        bytesDone: 0,
        state: 'pending',
        attempts: 0,
      }),
    );
    fileNames = progress.disks.map((d) => d.fileName);

    setPhase('preparing');
    prepared = await control.prepareExport({ jobId: input.jobId, source, vm, options: input.options });

    setPhase('leasing');
    const method = await leases.open(prepared);
    progress.method = method;

    setPhase('transferring');
    const transferred = await transferAll(input, vm, progress, leases, method);

    setPhase('finalizing');
    const finalized = await control.finalizeExport({
      jobId: input.jobId,
      sink,
      vm,
      disks: transferred,
      format: input.format,
      removeCdrom: input.options.removeCdrom,
      method,
    });
    await leases.complete();
    succeeded = true;
    setPhase('cleaning_up');
    return {
      vmName: vm.name,
      method,
      outputDir: finalized.outputDir,
      ovfPath: finalized.ovfPath,
      ...(finalized.ovaPath ? { ovaPath: finalized.ovaPath } : {}),
      manifestPath: finalized.manifestPath,
      files: finalized.files,
      totalSize: finalized.files.reduce((sum, f) => sum + f.sizeBytes, 0),
      durationMs: Date.now() - startedAt,
    };
  } catch (err) {
    if (isCancellation(err)) {
      setPhase('cancelled');
      throw err;
    }
    const type = failureType(err) ?? ErrorType.TransferFailed;
    const message = rootMessage(err);
    progress.error = { type, message };
    setPhase('failed');
    // Surface the root cause's type at the top of the workflow failure, so clients
    // need not dig through ActivityFailure wrappers.
    throw ApplicationFailure.create({ type, message, nonRetryable: true, cause: err as Error });
  } finally {
    const phase = progress.phase;
    // Cleanup must run even when the workflow is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      leases.stopKeepAlive();
      await control.cleanupExport({
        source,
        sink,
        ...(leases.current ? { leaseId: leases.current.id } : {}),
        leaseCompleted: leases.completed,
        ...(prepared?.createdSnapshotId ? { createdSnapshotId: prepared.createdSnapshotId } : {}),
        // A failed or cancelled export leaves nothing that could be taken for a result.
        removeFiles: succeeded ? [] : fileNames,
      });
    });
    if (succeeded) setPhase('completed');
    else progress.phase = phase;
  }
}

async function transferAll(
  input: ExportWorkflowInput,
  vm: VmDescription,
  progress: ExportProgress,
  leases: LeaseKeeper,
  method: 'ovf' | 'datastore',
): Promise<TransferredDisk[]> {
  const queue = vm.disks.map((disk, index) => ({ disk, index }));
  const results: TransferredDisk[] = [];
  const parallel = Math.max(1, Math.min(input.options.parallelDownloads, queue.length));

  const runOne = async (diskIndex: number): Promise<TransferredDisk> => {
    const disk = vm.disks[diskIndex]!;
    const state = progress.disks[diskIndex]!;
    state.state = 'transferring';
    let resumeFrom: unknown;
    for (let reopen = 0; ; reopen++) {
      state.attempts++;
      const lease = method === 'ovf' ? leases.current : undefined;
      const device = lease?.devices.find((d) => d.diskKey === disk.key);
      if (method === 'ovf' && !device) {
        throw ApplicationFailure.create({
          type: ErrorType.LeaseError,
          message: `the export lease has no device URL for disk ${disk.label} (key ${disk.key})`,
          nonRetryable: true,
        });
      }
      const generation = leases.generation;
      try {
        const done = await transferDisk({
          jobId: input.jobId,
          source: input.source,
          sink: input.sink,
          vm,
          diskKey: disk.key,
          fileName: state.fileName,
          sizeBytes: device?.sizeBytes ?? disk.capacityBytes,
          mode: method,
          ...(lease && device
            ? { leaseId: lease.id, deviceUrl: device.url, ...(device.sslThumbprint ? { sslThumbprint: device.sslThumbprint } : {}) }
            : {}),
          ...(resumeFrom !== undefined ? { resumeFrom } : {}),
        });
        state.state = 'done';
        state.bytesDone = done.bytes;
        state.sizeBytes = done.bytes;
        progress.updatedAt = new Date().toISOString();
        return done;
      } catch (err) {
        if (failureType(err) === ErrorType.LeaseLost && reopen < MAX_LEASE_REOPENS && !isCancellation(err)) {
          // The lease died under us: carry the committed checkpoint to a new lease.
          resumeFrom = failureDetails(err, ErrorType.LeaseLost)[0];
          await leases.reopen(generation);
          continue;
        }
        state.state = 'failed';
        throw err;
      }
    }
  };

  const runners = Array.from({ length: parallel }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      results.push(await runOne(next.index));
    }
  });
  await Promise.all(runners);
  return vm.disks.map((d) => results.find((r) => r.diskKey === d.key)!);
}

/**
 * Owns the NFC lease for the workflow: opens it (falling back to datastore
 * downloads when the server refuses ExportVm and the method is auto), keeps it
 * alive with a heartbeating activity, and reopens it at most MAX_LEASE_REOPENS
 * times when it is lost. Transfers that notice a lost lease wait for the one reopen.
 */
class LeaseKeeper {
  current: ExportLease | undefined;
  completed = false;
  generation = 0;
  private prepared: PreparedExport | undefined;
  private keepAliveScope: CancellationScope | undefined;
  private reopening: Promise<void> | undefined;

  constructor(private readonly input: ExportWorkflowInput) {}

  async open(prepared: PreparedExport): Promise<'ovf' | 'datastore'> {
    this.prepared = prepared;
    if (this.input.method === 'datastore') return 'datastore';
    try {
      this.current = await control.openLease({ source: this.input.source, target: prepared.target });
    } catch (err) {
      if (this.input.method === 'auto' && failureType(err) === ErrorType.NotSupported) return 'datastore';
      throw err;
    }
    this.startKeepAlive();
    return 'ovf';
  }

  async reopen(seenGeneration: number): Promise<void> {
    if (seenGeneration !== this.generation) return; // someone already reopened it
    this.reopening ??= this.doReopen().finally(() => (this.reopening = undefined));
    await this.reopening;
  }

  private async doReopen(): Promise<void> {
    if (this.generation >= MAX_LEASE_REOPENS) {
      throw ApplicationFailure.create({ type: ErrorType.LeaseLost, message: 'the export lease was lost too often', nonRetryable: true });
    }
    this.stopKeepAlive();
    const old = this.current;
    this.current = undefined;
    if (old) {
      await control.cleanupExport({ source: this.input.source, sink: this.input.sink, leaseId: old.id, leaseCompleted: false, removeFiles: [] });
    }
    this.current = await control.openLease({ source: this.input.source, target: this.prepared!.target });
    this.generation++;
    this.startKeepAlive();
  }

  async complete(): Promise<void> {
    this.stopKeepAlive();
    if (!this.current) return;
    await control.completeLease({ source: this.input.source, leaseId: this.current.id });
    this.completed = true;
  }

  stopKeepAlive(): void {
    this.keepAliveScope?.cancel();
    this.keepAliveScope = undefined;
  }

  private startKeepAlive(): void {
    const lease = this.current;
    if (!lease) return;
    const generation = this.generation;
    const scope = new CancellationScope();
    this.keepAliveScope = scope;
    scope
      .run(() => keepLeaseAlive({ source: this.input.source, leaseId: lease.id, intervalMs: LEASE_KEEPALIVE_MS }))
      .catch(async (err: unknown) => {
        if (isCancellation(err)) return;
        // The lease died between transfers: reopen it now rather than on the next failure.
        if (failureType(err) === ErrorType.LeaseLost) await this.reopen(generation).catch(() => undefined);
      });
  }
}
