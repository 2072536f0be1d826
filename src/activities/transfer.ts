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
import { ErrorType } from '../core/errors.js';
import type { DiskReader, DiskReadVia, DiskSource, SourceProvider } from '../core/source-provider.js';
import { refusingDescriptors } from '../storage/image/descriptor-guard.js';
import { openImageDiskWriter } from '../storage/image/image-disk-writer.js';
import type { OutputSink } from '../storage/sink.js';
import { transferDisk } from '../transfer/index.js';
import type { TransferCheckpoint } from '../transfer/types.js';
import type { ExportActivityDeps } from './deps.js';
import { diskIdentity } from './disk-identity.js';
import { transferExtentDisk } from './extent-transfer.js';
import { claimStaged, ClaimRefresher, stagedRecord, transferredDisk, verifiedRecord } from './staging.js';
import type { ExportActivities, TransferDiskInput } from './types.js';

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
      // A source read as extents (AWS: EBS snapshot blocks) has its own path.
      if (provider.openExtentSource) return transferExtentDisk(deps, input, provider.openExtentSource.bind(provider), checkpoint);
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
      // A disk inside an OVA keeps the archive's record (prepareOva's) alive instead.
      const claim = new ClaimRefresher(sink, input.ova?.name ?? input.fileName, () =>
        input.ova
          ? { version: 1 as const, jobId: input.jobId, verified: false, source: { archive: input.ova.name }, updatedAt: new Date().toISOString() }
          : stagedRecord(input.jobId, identity),
      );
      const ticker = setInterval(() => {
        beat(last);
        claim.tick();
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
        await claim.settle();
        if (!input.ova) await sink.writeStaged(input.fileName, verifiedRecord(input.jobId, identity, result, last));
        return transferredDisk(input, result);
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
