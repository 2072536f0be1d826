// One disk of a source read as extents (AWS: an EBS snapshot's blocks) into a
// raw, qcow2 or vhd image, by the transfer's extent engine: only the extents that hold
// data are fetched, several at once, each verified by the source. A retry
// (killed worker, dropped connection) resumes from the last heartbeat's
// checkpoint at block granularity; like every disk, the image is staged until
// finalize publishes the export. An incremental export (input.since) reads only
// the blocks changed since an earlier snapshot, laid over the image that export
// published in the same output (a local directory or S3).
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ImageFormat, TransferHeartbeat } from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import type { ExtentSource } from '../core/extent-source.js';
import type { ExportTarget } from '../core/source-provider.js';
import type { VmDescription } from '../core/vm-description.js';
import type { OutputSink } from '../storage/sink.js';
import { openImageDiskWriter } from '../storage/image/image-disk-writer.js';
import { transferExtents } from '../transfer/extent-transfer.js';
import { openEarlierImageSource, type EarlierImageSource } from '../transfer/earlier-image-source.js';
import { openTarMember } from '../storage/finished-tar-member.js';
import { OverlayExtentSource } from '../transfer/overlay-extent-source.js';
import type { TransferCheckpoint } from '../transfer/types.js';
import type { ExportActivityDeps } from './deps.js';
import { diskIdentity } from './disk-identity.js';
import { claimStaged, ClaimRefresher, stagedRecord, transferredDisk, verifiedRecord } from './staging.js';
import type { TransferDiskInput, TransferredDisk } from './types.js';

export type OpenExtentSource = (vm: VmDescription, diskKey: number, target: ExportTarget, options?: { since?: string }) => Promise<ExtentSource>;

/** How often the heartbeat repeats the last checkpoint while no new one comes (a stall still heartbeats). */
const HEARTBEAT_EVERY_MS = 5_000;

export async function transferExtentDisk(
  deps: ExportActivityDeps,
  input: TransferDiskInput,
  openExtentSource: OpenExtentSource,
  checkpoint: TransferCheckpoint | undefined,
): Promise<TransferredDisk> {
  const { image, target } = input;
  if (!image) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput,
      message: `${input.fileName}: this source's disks are read as blocks and written as images; export them with format raw, qcow2 or vhd`,
      nonRetryable: true,
    });
  }
  if (!target) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `${input.fileName}: no export target to read the disk from`, nonRetryable: true });
  }
  const sink = await deps.sinks.open(input.sink);
  const base = input.since ? await openEarlierImage(sink, input.fileName, image.format, input.sinceArchive) : undefined;
  try {
    const read = await openExtentSource(input.vm, input.diskKey, target, input.since ? { since: input.since } : {});
    return await transferSource(deps, { ...input, target }, sink, image, base ? new OverlayExtentSource(base, read) : read, checkpoint);
  } finally {
    await base?.close();
  }
}

/** The staged image of the disk written from `source`, heartbeating the engine's checkpoints. */
async function transferSource(
  deps: ExportActivityDeps,
  input: TransferDiskInput & { target: ExportTarget },
  sink: OutputSink,
  image: NonNullable<TransferDiskInput['image']>,
  source: ExtentSource,
  checkpoint: TransferCheckpoint | undefined,
): Promise<TransferredDisk> {
  const ctx = Context.current();
  // A snapshot never changes: its id is what the bytes provably are.
  const identity = diskIdentity(input.vm, input.diskKey, input.target, { etag: source.identity().etag ?? '' });
  const reused = await claimStaged(sink, input, identity);
  if (reused) return reused;
  const writer = await openImageDiskWriter(sink, {
    name: input.fileName,
    format: image.format,
    virtualSize: image.virtualSize,
    source: 'raw',
    stage: true,
    ...(checkpoint ? { checkpoint } : {}),
  });

  let last = checkpoint;
  const beat = (cp: TransferCheckpoint | undefined): void => {
    const details: TransferHeartbeat = { diskKey: input.diskKey, bytesDone: cp?.offset ?? 0, sizeBytes: source.sizeBytes, ...(cp ? { checkpoint: cp } : {}) };
    ctx.heartbeat(details);
  };
  beat(last);
  const claim = new ClaimRefresher(sink, input.fileName, () => stagedRecord(input.jobId, identity));
  const ticker = setInterval(() => {
    beat(last);
    claim.tick();
  }, HEARTBEAT_EVERY_MS);
  try {
    const result = await transferExtents({
      source,
      writer,
      ...(checkpoint ? { checkpoint } : {}),
      signal: ctx.cancellationSignal,
      checkpointEveryMs: deps.checkpointEveryMs,
      onCheckpoint: (cp) => {
        last = cp;
        beat(cp);
      },
    });
    clearInterval(ticker);
    await claim.settle();
    await sink.writeStaged(input.fileName, verifiedRecord(input.jobId, identity, result, last));
    return transferredDisk(input, result);
  } catch (err) {
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('transfer cancelled');
    // The engine removed the partial of a transfer no retry will resume: its claim goes too.
    if ((err as { nonRetryable?: unknown }).nonRetryable === true) await sink.discardStaged(input.fileName).catch(() => undefined);
    throw err;
  } finally {
    clearInterval(ticker);
    await writer.close().catch(() => undefined);
  }
}

/**
 * The image an earlier export published under this disk's name in the same
 * output (or packed under it into the archive `archive`, for an OVA): the base an
 * incremental export lays the changes over. The new image is staged beside it and
 * replaces it only when the whole export is published.
 */
async function openEarlierImage(sink: OutputSink, name: string, format: ImageFormat, archive: string | undefined): Promise<EarlierImageSource> {
  const where = archive ? `${sink.describe(archive)}, member ${name}` : sink.describe(name);
  try {
    const file = archive ? await openTarMember(await sink.openFinished(archive), name) : await sink.openFinished(name);
    if (!file) throw new Error(`the earlier export's ${archive} holds no ${name} to apply the changes to; it was exported with another format or disk layout`);
    return await openEarlierImageSource(file, format);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err; // the sink's own verdict, retryable (S3 unreachable) or not (access denied)
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? `there is no earlier export's ${archive ?? name} to apply the changes to; export the snapshot it names there first` : (err as Error).message;
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `since_snapshot: ${why} (${where})`, nonRetryable: true });
  }
}
