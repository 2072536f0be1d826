// The durable VM export: describe -> prepare -> export session where a disk is
// streamed (kept alive, reopened if lost; vSphere: the NFC lease) -> one transfer
// per disk -> finalize -> cleanup (always).
// Deterministic code only: all I/O happens in activities.
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  patched,
  setHandler,
} from '@temporalio/workflow';
import type { OvaPlan, PreparedExport, TransferredDisk } from '../activities/types.js';
import { diskFileName, manifestFileName, ovaFileName, ovfFileName } from '../export/disk-files.js';
import {
  diskImageOf,
  PROGRESS_QUERY,
  type DiskMethod,
  type DiskProgress,
  type ExportProgress,
  type ExportResult,
  type ExportWorkflowInput,
} from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import type { VmDescription } from '../core/vm-description.js';
import { ExportSessionKeeper, MAX_SESSION_REOPENS } from './export-session-keeper.js';
import { failureDetails, failureType, rootMessage } from './failures.js';
import { activitiesFor, claimWorkerFor, sharedQueueActivities } from './worker-affinity.js';

/** The patch marker of exports that check their output and stage their disks. */
export const OUTPUT_OWNERSHIP_PATCH = 'output-ownership';
/** The patch marker of exports that write an OVA in place. */
export const OVA_IN_PLACE_PATCH = 'ova-in-place';
/** The patch marker of `auto` exports that choose the method per disk (chooseMethods). */
export const AUTO_PER_DISK_PATCH = 'auto-per-disk';
/** The patch marker of `auto` exports that stream a disk whose datastore GET was refused (the HEAD passed). */
export const REFUSAL_FALLBACK_PATCH = 'datastore-refusal-fallback';
/** The patch marker of exports that pack an OVA of streamed disks resumably from the staged copies. */
export const OVA_PACK_PATCH = 'ova-pack-resumable';
/** The patch marker of `auto` exports that move a streamed disk to the datastore when its export session is lost (named for vSphere's lease). */
export const SESSION_LOSS_SWITCH_PATCH = 'lease-loss-switch';

/**
 * Why a disk is streamed through the export session when the job does not choose
 * per disk. This reason and the others the job shows keep vSphere's words (NFC,
 * lease): clients read them, and vSphere is the only source that streams today.
 */
const STREAM_REASON = 'stream: restarts from zero if interrupted';

export const progressQuery = defineQuery<ExportProgress>(PROGRESS_QUERY);

// Module state is per workflow execution (the SDK isolates it): re-targeted below
// at the worker that claims a local export.
let { control, transferDisk, keepSessionAlive, finalizeExport } = sharedQueueActivities();

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
  // Read through a getter: the keeper's calls follow the re-targeting below.
  const sessions = new ExportSessionKeeper(input, () => ({ control, keepSessionAlive }));
  const transfers = new TransferTracker();

  try {
    setPhase('connecting');
    // The input carries the per-job activity tuning (its heartbeat timeouts).
    ({ control, transferDisk, keepSessionAlive, finalizeExport } = activitiesFor(sink, await claimWorkerFor(sink, input), input));
    const vm = await control.describeVm({ source, vmPath: input.vmPath });
    progress.vmName = vm.name;
    progress.disks = vm.disks.map(
      (d, i): DiskProgress => ({
        key: d.key,
        fileName: diskFileName(vm, i, diskImageOf(input) ?? input.format),
        sizeBytes: d.capacityBytes,
        bytesDone: 0,
        state: 'pending',
        attempts: 0,
      }),
    );
    transfers.diskNames = progress.disks.map((d) => d.fileName);
    // Refused before anything is made: an output holding an earlier export's files.
    // (Exports started before this check replay without it.)
    if (patched(OUTPUT_OWNERSHIP_PATCH)) {
      const archive = input.format === 'ova' ? { archive: ovaFileName(vm) } : {};
      await control.checkOutput({ sink, names: outputNames(vm, transfers.diskNames, input.format), overwrite: replaces(input), ...archive });
    }

    setPhase('preparing');
    prepared = await control.prepareExport({ jobId: input.jobId, source, vm, options: input.options });

    // The phase's wire name is vSphere's: the export session is being opened.
    setPhase('leasing');
    const methods = await chooseAndOpen(input, vm, prepared, sessions);
    // One method for the job's existing fields: 'ovf' as soon as the export session serves a disk.
    let method: 'ovf' | 'datastore' = methods.some((m) => m.method === 'ovf') ? 'ovf' : 'datastore';
    // A disk auto streamed only because the datastore refused it at the start may be
    // readable there after a lost session: re-probed then, and moved (exports started
    // before this code reopen the session as they did).
    const perDisk = input.method === 'auto' && patched(AUTO_PER_DISK_PATCH);
    const switchable = method === 'ovf' && perDisk && patched(SESSION_LOSS_SWITCH_PATCH);
    if (switchable) sessions.needed = () => progress.disks.some((d) => d.method === 'ovf' && d.state !== 'done');
    progress.method = method;
    for (const [i, m] of methods.entries()) {
      const state = progress.disks[i]!;
      state.method = m.method;
      state.methodReason = m.reason;
    }

    // An OVA whose disk sizes are known before the transfers (datastore reads) is
    // written in place: the disks go straight into the archive.
    let ova: OvaPlan | undefined;
    // (Not for disks written as images: their sizes are known only once written.)
    if (input.format === 'ova' && !input.diskImage && sink.kind === 'local' && method === 'datastore' && patched(OVA_IN_PLACE_PATCH)) {
      ova =
        (await control.prepareOva({
          jobId: input.jobId,
          source,
          sink,
          vm,
          removeCdrom: input.options.removeCdrom,
          mtime: Math.floor(Date.parse(input.submittedAt) / 1000),
        })) ?? undefined;
      if (ova) transfers.archive = ova.name;
    }

    setPhase('transferring');
    const transferred = await transferAll(input, vm, progress, sessions, methods, prepared, ova, { switchable, perDisk });
    if (perDisk) {
      method = methods.some((m) => m.method === 'ovf') ? 'ovf' : 'datastore';
      progress.method = method;
    }

    setPhase('finalizing');
    // An OVA not written in place is packed from the staged disks: resumably, and
    // its partial is this job's (cleanup removes it if the export fails).
    const mtime = Math.floor(Date.parse(input.submittedAt) / 1000);
    const pack = input.format === 'ova' && sink.kind === 'local' && !ova && patched(OVA_PACK_PATCH);
    if (pack) transfers.archive = ovaFileName(vm);
    const finalized = await finalizeExport({
      jobId: input.jobId,
      sink,
      vm,
      disks: transferred,
      format: input.format,
      ...(input.diskImage ? { diskImage: input.diskImage } : {}),
      removeCdrom: input.options.removeCdrom,
      method,
      ...(methods.some((m) => m.method !== method) ? { diskMethods: methods } : {}),
      ...(ova ? { ova } : {}),
      ...(pack ? { packMtime: mtime } : {}),
      ...(replaces(input) ? { overwrite: true } : {}),
    });
    // Every streamed disk moved to the datastore: the lost session is aborted by cleanup, not completed.
    if (method === 'ovf') await sessions.complete();
    transfers.succeeded = true;
    setPhase('cleaning_up');
    await cleanUp(input, sessions, prepared, transfers, false);
    setPhase('completed');
    return {
      vmName: vm.name,
      method,
      diskMethods: methods.map((m, i) => ({ ...m, fileName: progress.disks[i]!.fileName })),
      outputDir: finalized.outputDir,
      ovfPath: finalized.ovfPath,
      ...(finalized.ovaPath ? { ovaPath: finalized.ovaPath } : {}),
      manifestPath: finalized.manifestPath,
      files: finalized.files,
      ...(finalized.members ? { members: finalized.members } : {}),
      ...(input.options.keepSnapshots && prepared.createdSnapshotId ? { keptSnapshot: prepared.createdSnapshotId } : {}),
      ...(input.options.sinceSnapshot ? { sinceSnapshot: input.options.sinceSnapshot } : {}),
      totalSize: finalized.files.reduce((sum, f) => sum + f.sizeBytes, 0),
      durationMs: Date.now() - startedAt,
    };
  } catch (err) {
    if (transfers.succeeded) throw err; // cleanup after success failed: the export itself is done
    const cancelled = isCancellation(err);
    const type = failureType(err) ?? ErrorType.TransferFailed;
    const message = rootMessage(err);
    // Every transfer has stopped (transferAll waits for them): now clean up,
    // even while the workflow is being cancelled.
    const kept = await CancellationScope.nonCancellable(() => cleanUp(input, sessions, prepared, transfers, cancelled));
    if (cancelled) {
      setPhase('cancelled');
      throw err;
    }
    if (kept.length > 0) progress.kept = kept;
    const keptNote = kept.length
      ? ` (verified disks kept out of sight in ${input.outputPath} for a resubmit of the same VM to the same output: ${kept.join(', ')})`
      : '';
    progress.error = { type, message: message + keptNote };
    setPhase('failed');
    // Surface the root cause's type at the top of the workflow failure, so clients
    // need not dig through ActivityFailure wrappers.
    throw ApplicationFailure.create({
      type,
      message: message + keptNote,
      nonRetryable: true,
      cause: err as Error,
      ...(kept.length ? { details: [{ kept }] } : {}),
    });
  }
}

/** Whether the source has an export session that streams disks (vSphere's NFC lease): AWS reads only snapshots' blocks. */
function streams(input: ExportWorkflowInput): boolean {
  return input.source.provider === 'vsphere';
}

/** Whether the export replaces an earlier one's files: asked (overwrite), or an incremental export, which updates them. */
function replaces(input: ExportWorkflowInput): boolean {
  return input.overwrite === true || input.options.sinceSnapshot !== undefined;
}

/** Every name the export publishes: the disks, the descriptor, the manifest, the archive. */
function outputNames(vm: VmDescription, disks: string[], format: ExportWorkflowInput['format']): string[] {
  return [...disks, ovfFileName(vm), manifestFileName(vm), ...(format === 'ova' ? [ovaFileName(vm)] : [])];
}

/** What the workflow knows about the files its transfers made. */
class TransferTracker {
  diskNames: string[] = [];
  /** An OVA written in place: its partial is this job's too. */
  archive: string | undefined;
  succeeded = false;
}

/**
 * Aborts the export session unless it was completed, removes our snapshot and,
 * unless the export succeeded, the staged files this job created: all of them when
 * cancelled, all but the verified disks when failed. Returns the disks kept.
 */
async function cleanUp(
  input: ExportWorkflowInput,
  sessions: ExportSessionKeeper,
  prepared: PreparedExport | undefined,
  transfers: TransferTracker,
  cancelled: boolean,
): Promise<string[]> {
  sessions.stopKeepAlive();
  const result = await control.cleanupExport({
    source: input.source,
    sink: input.sink,
    // The session's fields keep their recorded names (leaseId, leaseCompleted).
    ...(sessions.current ? { leaseId: sessions.current.id } : {}),
    leaseCompleted: sessions.completed,
    // Snapshots the job keeps (keepSnapshots) stay once the export succeeded (a later
    // incremental export starts from them); only the read access the export had ends.
    ...(prepared?.createdSnapshotId
      ? transfers.succeeded && input.options.keepSnapshots
        ? { keptSnapshotId: prepared.createdSnapshotId }
        : { createdSnapshotId: prepared.createdSnapshotId }
      : {}),
    ...(transfers.succeeded
      ? {}
      : {
          files: {
            jobId: input.jobId,
            disks: [...transfers.diskNames, ...(transfers.archive ? [transfers.archive] : [])],
            keepVerified: !cancelled,
          },
        }),
  });
  // Histories from before cleanup reported anything hold no result.
  return (result as Partial<typeof result> | undefined)?.kept ?? [];
}

/**
 * Decides how each disk is read and opens the export session if one is needed.
 * Method `auto` (in exports started with this code) asks chooseMethods: the
 * datastore (file) read wherever it can serve the disk, the session's stream only
 * for the others. An explicit method, or an export started before, takes one
 * method for every disk as before (auto: the session, or the datastore when the
 * source refuses one; vSphere: ExportVm).
 */
async function chooseAndOpen(input: ExportWorkflowInput, vm: VmDescription, prepared: PreparedExport, sessions: ExportSessionKeeper): Promise<DiskMethod[]> {
  if (input.method === 'auto' && patched(AUTO_PER_DISK_PATCH)) {
    const methods = await control.chooseMethods({ source: input.source, vm, target: prepared.target });
    const streamed = methods.filter((m) => m.method === 'ovf');
    if (streamed.length > 0) {
      try {
        await sessions.open(prepared, { fallback: false });
      } catch (err) {
        if (failureType(err) !== ErrorType.NotSupported) throw err;
        // The datastore cannot serve these disks (a datastore read of a delta chain
        // would not be the disk): say why the export needed the session.
        const why = streamed.map((m) => `disk ${m.diskKey}: ${m.reason}`).join('; ');
        throw ApplicationFailure.create({
          type: ErrorType.NotSupported,
          message: `${rootMessage(err)}; the NFC export is needed because the datastore cannot serve every disk (${why})`,
          nonRetryable: true,
          // No cause: the job's error is the deepest cause's message, and this one holds it.
        });
      }
    }
    return methods;
  }
  const method = await sessions.open(prepared);
  const reason =
    input.method !== 'auto'
      ? `${method === 'datastore' ? 'resumable' : STREAM_REASON}; method ${input.method} asked by the job`
      : method === 'datastore'
        ? 'resumable; the server refused the NFC export'
        : STREAM_REASON;
  return vm.disks.map((d) => ({ diskKey: d.key, method, reason }));
}

async function transferAll(
  input: ExportWorkflowInput,
  vm: VmDescription,
  progress: ExportProgress,
  sessions: ExportSessionKeeper,
  methods: DiskMethod[],
  prepared: PreparedExport,
  ova: OvaPlan | undefined,
  { switchable = false, perDisk = false }: { switchable?: boolean; perDisk?: boolean } = {},
): Promise<TransferredDisk[]> {
  const queue = vm.disks.map((disk, index) => ({ disk, index }));
  const results: TransferredDisk[] = [];
  const parallel = Math.max(1, Math.min(input.options.parallelDownloads, queue.length));
  const image = diskImageOf(input);

  const runOne = async (diskIndex: number): Promise<TransferredDisk> => {
    const disk = vm.disks[diskIndex]!;
    const state = progress.disks[diskIndex]!;
    let method = methods.find((m) => m.diskKey === disk.key)?.method ?? 'ovf';
    state.state = 'transferring';
    let resumeFrom: unknown;
    for (let reopen = 0; ; reopen++) {
      state.attempts++;
      const session = method === 'ovf' ? sessions.current : undefined;
      const device = session?.devices.find((d) => d.diskKey === disk.key);
      if (method === 'ovf' && !device) {
        throw ApplicationFailure.create({
          type: ErrorType.LeaseError,
          message: `the export lease has no device URL for disk ${disk.label} (key ${disk.key})`,
          nonRetryable: true,
        });
      }
      const generation = sessions.generation;
      try {
        const done = await transferDisk({
          jobId: input.jobId,
          target: prepared.target,
          source: input.source,
          sink: input.sink,
          vm,
          diskKey: disk.key,
          fileName: state.fileName,
          sizeBytes: device?.sizeBytes ?? disk.capacityBytes,
          mode: method,
          ...(session && device
            ? { leaseId: session.id, deviceUrl: device.url, ...(device.sslThumbprint ? { sslThumbprint: device.sslThumbprint } : {}) }
            : {}),
          ...(resumeFrom !== undefined ? { resumeFrom } : {}),
          ...(ova ? { ova: { name: ova.name, region: ova.regions[diskIndex]! } } : {}),
          ...(image ? { image: { format: image, virtualSize: disk.capacityBytes } } : {}),
          ...(input.options.sinceSnapshot ? { since: input.options.sinceSnapshot } : {}),
          ...(input.options.sinceSnapshot && input.format === 'ova' ? { sinceArchive: ovaFileName(vm) } : {}),
        });
        state.state = 'done';
        state.bytesDone = done.bytes;
        state.sizeBytes = done.bytes;
        if (done.reused) state.reused = true;
        progress.updatedAt = new Date().toISOString();
        return done;
      } catch (err) {
        if (
          perDisk &&
          streams(input) &&
          method === 'datastore' &&
          failureType(err) === ErrorType.SourceRefused &&
          !isCancellation(err) &&
          !ova &&
          patched(REFUSAL_FALLBACK_PATCH)
        ) {
          // The HEAD passed but the GET was refused (a permission or lock on reads
          // only): the session's stream still serves the disk, so auto takes it, with why.
          await streamInstead(sessions, prepared, methods, state, disk.key, rootMessage(err));
          method = 'ovf';
          resumeFrom = undefined;
          continue;
        }
        // LeaseLost: the wire name of a lost export session, whatever the source.
        if (failureType(err) === ErrorType.LeaseLost && !isCancellation(err)) {
          const checkpoint = failureDetails(err, ErrorType.LeaseLost)[0];
          if (switchable && method === 'ovf' && (await movedToDatastore(input, vm, prepared, methods, state, disk.key, checkpoint))) {
            // A new stream would restart from zero anyway; the datastore read does
            // too, once, and from then on resumes.
            method = 'datastore';
            resumeFrom = undefined;
            continue;
          }
          if (reopen < MAX_SESSION_REOPENS) {
            // The session died under us: carry the committed checkpoint to a new one.
            resumeFrom = checkpoint;
            await sessions.reopen(generation);
            continue;
          }
        }
        state.state = 'failed';
        throw err;
      }
    }
  };

  // The transfers run in a scope of their own. The first failure cancels the
  // others, and nothing returns until every transfer activity has stopped
  // (transferOptions waits for cancellation to complete): cleanup must never
  // remove files a transfer is still writing.
  let firstError: Error | undefined;
  const scope = new CancellationScope();
  const runners = Array.from({ length: parallel }, () =>
    scope.run(async () => {
      for (let next = queue.shift(); next && firstError === undefined; next = queue.shift()) {
        try {
          results.push(await runOne(next.index));
        } catch (err) {
          firstError ??= err instanceof Error ? err : new Error(String(err));
          scope.cancel();
        }
      }
    }),
  );
  const settled = await Promise.allSettled(runners);
  if (firstError !== undefined) throw firstError;
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason instanceof Error ? rejected.reason : new Error(String(rejected.reason));
  return vm.disks.map((d) => results.find((r) => r.diskKey === d.key)!);
}

/**
 * After a lost session, asks again whether the datastore serves a streamed disk
 * (a refusal at the start may have been a lock or a permission since fixed). If
 * it does, the disk's method becomes datastore, with the reason, and true is returned.
 */
async function movedToDatastore(
  input: ExportWorkflowInput,
  vm: VmDescription,
  prepared: PreparedExport,
  methods: DiskMethod[],
  state: DiskProgress,
  diskKey: number,
  checkpoint: unknown,
): Promise<boolean> {
  const [probed] = await control.chooseMethods({ source: input.source, vm, target: prepared.target, diskKeys: [diskKey] });
  if (probed?.method !== 'datastore') return false;
  const streamed = (checkpoint as { offset?: unknown } | undefined)?.offset;
  const lost = typeof streamed === 'number' ? streamed : 0;
  switchMethod(methods, state, {
    diskKey,
    method: 'datastore',
    reason: `resumable; moved from the NFC stream when its lease was lost (${lost} bytes streamed before are read again from the datastore)`,
  });
  log.warn('export lease lost: disk moved from the NFC stream to the datastore', { disk: state.fileName, bytesLost: lost });
  return true;
}

/** A disk changes paths mid-export: the job's method list, its progress (from zero again) and the reason. */
function switchMethod(methods: DiskMethod[], state: DiskProgress, moved: DiskMethod): void {
  const index = methods.findIndex((m) => m.diskKey === moved.diskKey);
  if (index >= 0) methods[index] = moved;
  state.method = moved.method;
  state.methodReason = moved.reason;
  state.bytesDone = 0;
}

/**
 * Moves a disk whose datastore GET was refused to the session's stream, opening
 * the export session if no disk needed one yet.
 */
async function streamInstead(sessions: ExportSessionKeeper, prepared: PreparedExport, methods: DiskMethod[], state: DiskProgress, diskKey: number, refusal: string): Promise<void> {
  try {
    await sessions.ensureOpen(prepared);
  } catch (err) {
    if (failureType(err) !== ErrorType.NotSupported) throw err;
    throw ApplicationFailure.create({
      type: ErrorType.NotSupported,
      message: `${rootMessage(err)}; the NFC export was needed because the datastore refused to read disk ${diskKey} (${refusal})`,
      nonRetryable: true,
    });
  }
  switchMethod(methods, state, {
    diskKey,
    method: 'ovf',
    reason: `stream: restarts from zero if interrupted, because the datastore refused to read the disk's file (${refusal})`,
  });
  log.warn('datastore read refused: disk moved to the NFC stream', { disk: state.fileName, refusal });
}
