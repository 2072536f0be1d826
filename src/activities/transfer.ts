// One disk, read from the source (a device of its export session, or the disk's
// own file) into the sink, heartbeating the committed offset. A retry (killed
// worker, dropped connection, full disk freed) resumes from the last heartbeat; a
// lost session is handed back to the workflow with the checkpoint, so it can
// reopen the session and resume on the new device URL.
//
// The disk is staged, not published: it stays out of sight (with a record naming
// this job, its size, hash and source) until finalize publishes the whole export.
// A verified copy an earlier job left from a provably identical source is reused
// without moving a byte; any other staged copy of another job is discarded first.
import { ApplicationFailure, CancelledFailure, Context, log } from '@temporalio/activity';
import type { TransferHeartbeat } from '../core/export-contract.js';
import { diskFileName } from '../export/disk-files.js';
import { ErrorType } from '../core/errors.js';
import type { DiskReader, DiskReadVia, DiskSource, SourceProvider } from '../core/source-provider.js';
import { refusingDescriptors } from '../storage/image/descriptor-guard.js';
import { openImageDiskWriter } from '../storage/image/image-disk-writer.js';
import type { OutputSink, StagedDiskRecord } from '../storage/sink.js';
import { transferDisk } from '../transfer/index.js';
import type { TransferCheckpoint } from '../transfer/types.js';
import type { ExportActivityDeps } from './deps.js';
import { diskIdentity, provablySame, type DiskIdentity } from './disk-identity.js';
import type { ExportActivities, TransferDiskInput, TransferredDisk } from './types.js';

export function createTransferActivity(deps: ExportActivityDeps): Pick<ExportActivities, 'transferDisk'> {
  return {
    async transferDisk(input) {
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as TransferHeartbeat | undefined;
      const checkpoint = (previous?.checkpoint ?? input.resumeFrom) as TransferCheckpoint | undefined;
      let last: TransferCheckpoint | undefined = checkpoint;
      // Method ovf: the export session whose device this disk is read from.
      const sessionId = input.leaseId;

      const provider = await deps.providers.get(input.source);
      const profile = deps.providers.profile(input.source);
      // The device URL comes from the workflow input: the provider checks it before attaching any session secret.
      const reader = await provider.openDiskReader(input.vm, input.diskKey, readVia(input));
      const { source } = reader;
      const expectedBytes = reader.exactBytes;
      const sink = await deps.sinks.open(input.sink);
      // A stream cannot resume (no Range): everything before the checkpoint is
      // transferred again. Say so where an operator sees it, with the cost (in
      // vSphere's words: its NFC lease is the only session that streams today).
      const lostBytes = reader.reads === 'stream' ? (checkpoint?.offset ?? 0) : 0;
      if (lostBytes > 0 && lostBytes >= (deps.restartWarningBytes ?? 1 << 30)) {
        log.warn('an NFC stream cannot resume: this disk starts over from zero', {
          disk: input.fileName,
          bytesLost: lostBytes,
          why: 'the NFC lease serves a generated stream without Range; method auto reads disks through the datastore where it can',
        });
      }
      const identity = diskIdentity(input.vm, input.diskKey, input.target, await validatorsOf(input, provider, reader));
      // A disk inside an OVA written in place has no file of its own to stage:
      // the archive's partial (claimed by prepareOva) is where its bytes go.
      const reused = input.ova ? undefined : await claimStaged(sink, input, identity);
      if (reused) return reused;
      const writerOptions = { sizeBytes: source.sizeBytes ?? input.sizeBytes, stage: true, ...(checkpoint ? { checkpoint } : {}) };
      const opened = input.ova
        ? await archivesOf(sink).openRegion(input.ova.name, input.ova.region, writerOptions)
        : writesImage(input, reader)
          ? await openImageDiskWriter(sink, {
              name: input.fileName,
              format: input.image.format,
              virtualSize: input.image.virtualSize,
              source: reader.encoding,
              stage: true,
              ...(checkpoint ? { checkpoint } : {}),
            })
          : await sink.openDiskWriter(input.fileName, writerOptions);
      // What a stream serves is checked before it is kept: a bare descriptor is no disk.
      const writer = reader.encoding === 'sniff' ? refusingDescriptors(opened) : opened;

      const beat = (cp: TransferCheckpoint | undefined) => {
        const details: TransferHeartbeat = {
          diskKey: input.diskKey,
          bytesDone: cp?.offset ?? 0,
          // What the server says it will send beats the disk's capacity (thin and
          // streamOptimized disks are smaller than their capacity).
          sizeBytes: cp?.totalBytes ?? source.sizeBytes ?? input.sizeBytes,
          ...(cp ? { checkpoint: cp } : {}),
        };
        ctx.heartbeat(details);
        if (sessionId) deps.sessionProgress.update(sessionId, input.diskKey, details.bytesDone, details.sizeBytes);
      };
      // Heartbeat even while no byte moves (slow start, stall), so cancellation
      // reaches us and the server does not take a live attempt for a dead one.
      beat(last);
      // The record says this job is alive, so a second export of the same VM into
      // the same directory is refused instead of discarding these bytes.
      let refreshedAt = Date.now();
      let refreshing: Promise<void> | undefined;
      const refresh = () => {
        if (Date.now() - refreshedAt < RECORD_REFRESH_MS) return;
        refreshedAt = Date.now();
        // A disk inside an OVA keeps the archive's record (prepareOva's) alive instead.
        const record = input.ova
          ? { version: 1 as const, jobId: input.jobId, verified: false, source: { archive: input.ova.name }, updatedAt: new Date().toISOString() }
          : stagedRecord(input.jobId, identity);
        refreshing = sink.writeStaged(input.ova?.name ?? input.fileName, record).catch(() => undefined);
      };
      const ticker = setInterval(() => {
        beat(last);
        refresh();
      }, 5_000);
      try {
        const result = await transferDisk({
          source,
          writer,
          ...(expectedBytes !== undefined ? { expectedBytes } : {}),
          ...(checkpoint ? { checkpoint } : {}),
          signal: ctx.cancellationSignal,
          tls: { insecure: profile.insecure },
          checkpointEveryMs: deps.checkpointEveryMs,
          onCheckpoint: (cp: TransferCheckpoint) => {
            last = cp;
            beat(cp);
          },
        });
        // No refresh may land after (and undo) the verified record.
        clearInterval(ticker);
        await refreshing;
        if (!input.ova) await sink.writeStaged(input.fileName, {
          ...stagedRecord(input.jobId, identity, { bytes: result.bytes, sha256: result.sha256 }),
          // An image's file says its own final state (S3: the completed upload publish copies).
          ...(result.file.state ? { sinkState: result.file.state } : last ? { sinkState: last.sink } : {}),
        });
        return {
          diskKey: input.diskKey,
          fileName: input.fileName,
          bytes: result.bytes,
          sha256: result.sha256,
          resumedFromOffset: result.resumedFromOffset,
          restartedFromZero: result.restartedFromZero,
        };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('transfer cancelled');
        if (input.mode === 'ovf' && sessionId && (await sessionIsGone(provider, sessionId))) {
          throw ApplicationFailure.create({
            type: ErrorType.LeaseLost,
            message: `export lease ${sessionId} was lost while transferring ${input.fileName}`,
            nonRetryable: true,
            details: [last],
            cause: err as Error,
          });
        }
        // A device URL refused (401/403/404/410) is final only while its session
        // is known to be alive; when the source cannot tell, the refusal may be
        // the session's end: retried like any transfer failure.
        if (input.mode === 'ovf' && sessionId && failureTypeOf(err) === ErrorType.SourceRefused && !(await sessionIsAlive(provider, sessionId))) {
          throw ApplicationFailure.create({ type: ErrorType.TransferFailed, message: (err as Error).message, nonRetryable: false, cause: err as Error });
        }
        // The engine removed the partial of a transfer no retry will resume; its
        // claim goes with it, so a failed disk leaves nothing of this job behind.
        if ((err as { nonRetryable?: unknown }).nonRetryable === true && !input.ova) await sink.discardStaged(input.fileName).catch(() => undefined);
        throw err;
      } finally {
        clearInterval(ticker);
        await writer.close().catch(() => undefined);
      }
    },
  };
}

/** The job's method for this disk, in the source's terms. */
function readVia(input: TransferDiskInput): DiskReadVia {
  if (input.mode === 'datastore') return { kind: 'file' };
  if (!input.deviceUrl) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: 'ovf transfer without a device URL', nonRetryable: true });
  }
  return {
    kind: 'device',
    url: input.deviceUrl,
    sizeBytes: input.sizeBytes,
    ...(input.sslThumbprint ? { sslThumbprint: input.sslThumbprint } : {}),
  };
}

/**
 * Whether the disk goes through an image writer. A raw image of the disk's own
 * bytes is the bytes read: the ordinary writer (resumable, hashed on a worker
 * thread, all-zero batches left as holes) writes it as is.
 */
function writesImage(input: TransferDiskInput, reader: DiskReader): input is TransferDiskInput & { image: NonNullable<TransferDiskInput['image']> } {
  return input.image !== undefined && !(input.image.format === 'raw' && reader.encoding === 'raw');
}

function archivesOf(sink: OutputSink): NonNullable<OutputSink['archives']> {
  if (!sink.archives) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `${sink.location} cannot hold an OVA written in place`, nonRetryable: true });
  }
  return sink.archives;
}

function stagedRecord(jobId: string, source: DiskIdentity, verified?: { bytes: number; sha256: string }): StagedDiskRecord {
  return { version: 1, jobId, verified: verified !== undefined, ...verified, source, updatedAt: new Date().toISOString() };
}

/**
 * Takes the staged slot of this disk for the job. Returns the earlier result when
 * a verified copy can stand for this transfer: this job's own (an attempt that
 * finished but was not reported), or an earlier job's from a provably identical
 * source. Any other job's staged copy is discarded before this job writes.
 */
async function claimStaged(sink: OutputSink, input: TransferDiskInput, identity: DiskIdentity): Promise<TransferredDisk | undefined> {
  if (!sink.stages) return undefined;
  const record = await sink.readStaged(input.fileName);
  const ours = record?.jobId === input.jobId;
  if (record?.verified && record.bytes !== undefined && record.sha256 && (ours || provablySame(record.source, identity))) {
    // The record keeps naming the job that made the copy: this one did not create
    // it, so if it is cancelled it leaves the copy for the next attempt.
    return {
      diskKey: input.diskKey,
      fileName: input.fileName,
      bytes: record.bytes,
      sha256: record.sha256,
      resumedFromOffset: record.bytes,
      restartedFromZero: false,
      reused: !ours,
    };
  }
  if (record && !ours) {
    await refuseIfJobAlive(sink, input, record);
    await sink.discardStaged(input.fileName);
  }
  if (!ours) await sink.writeStaged(input.fileName, stagedRecord(input.jobId, identity));
  return undefined;
}

/**
 * A transfer refreshes its record every RECORD_REFRESH_MS; another job's
 * unverified record fresher than RECORD_STALE_MS belongs to an export that is
 * still writing (a second job on the same VM and directory): never discard it.
 */
export const RECORD_REFRESH_MS = 30_000;
const RECORD_STALE_MS = 4 * RECORD_REFRESH_MS;

export function refuseIfInUse(record: StagedDiskRecord, name: string, now = Date.now()): void {
  const age = now - Date.parse(record.updatedAt);
  if (record.verified || !(age < RECORD_STALE_MS)) return;
  throw ApplicationFailure.create({
    type: ErrorType.OutputInUse,
    message: `export ${record.jobId} is writing ${name} in this output (its record was refreshed ${Math.max(0, Math.round(age / 1000))} s ago); wait for it to end, cancel it, or choose another output`,
    nonRetryable: true,
  });
}

/**
 * Another job's staged copy may be discarded only when that job is over. A fresh
 * unverified record says it is still writing this disk; a verified one says
 * nothing by itself (it is not refreshed), so the job's records of the VM's other
 * disks are asked too: one still being written means the job is alive.
 */
async function refuseIfJobAlive(sink: OutputSink, input: TransferDiskInput, record: StagedDiskRecord): Promise<void> {
  refuseIfInUse(record, input.fileName);
  if (!record.verified) return;
  for (const [i] of input.vm.disks.entries()) {
    const sibling = diskFileName(input.vm, i);
    if (sibling === input.fileName) continue;
    const other = await sink.readStaged(sibling);
    if (other?.jobId === record.jobId) refuseIfInUse(other, sibling);
  }
}

/**
 * Validators of the disk's backing file. A file read has them from its HEAD; for
 * a stream they are asked for the same way (reading the file's description), and
 * a refusal only means the copy will not be reusable.
 */
async function validatorsOf(
  input: TransferDiskInput,
  provider: Awaited<ReturnType<ExportActivityDeps['providers']['get']>>,
  reader: DiskReader,
): Promise<DiskSource['validators']> {
  if (reader.reads === 'ranged') return reader.source.validators;
  if (input.target?.kind !== 'vm') return undefined; // a snapshot of this job: never the same twice
  return provider
    .openDiskReader(input.vm, input.diskKey, { kind: 'file' })
    .then((r) => r.source.validators)
    .catch(() => undefined);
}

function failureTypeOf(err: unknown): string | undefined {
  const type = (err as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

async function sessionIsAlive(provider: Pick<SourceProvider, 'sessionState'>, sessionId: string): Promise<boolean> {
  try {
    const state = await provider.sessionState(sessionId);
    return state === 'ready' || state === 'initializing';
  } catch {
    return false;
  }
}

async function sessionIsGone(provider: Pick<SourceProvider, 'sessionState'>, sessionId: string): Promise<boolean> {
  try {
    const state = await provider.sessionState(sessionId);
    return state === 'error' || state === 'done';
  } catch (err) {
    // The session no longer exists or can no longer be used: the provider says so
    // with LeaseLost (vSphere: ManagedObjectNotFound/InvalidState on a lease call)
    // or VmNotFound (vSphere: a bare ManagedObjectNotFound). Without this, a lease
    // aborted behind the worker's back left the transfer retrying its dead device
    // URL (HTTP 404) forever. Any other error (the source unreachable) says
    // nothing about the session: the attempt is retried.
    const type = (err as { type?: string }).type;
    return type === ErrorType.VmNotFound || type === ErrorType.LeaseLost;
  }
}
