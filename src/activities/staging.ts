// A disk's staged slot in the sink: claimed by one job at a time, with a record
// naming the job, what the disk is a copy of and, once verified, its size and
// hash. Shared by both transfer paths (HTTP reads and extents) and the OVA writers.
import { ApplicationFailure } from '@temporalio/activity';
import { diskFileName } from '../export/disk-files.js';
import { ErrorType } from '../core/errors.js';
import type { OutputSink, StagedDiskRecord } from '../storage/sink.js';
import type { DiskIdentity } from './disk-identity.js';
import { provablySame } from './disk-identity.js';
import type { TransferCheckpoint, TransferResult } from '../transfer/types.js';
import type { TransferDiskInput, TransferredDisk } from './types.js';

/**
 * The record of a disk the transfer finished: verified, with its size and hash,
 * and the sink's final state (an image's file says its own: S3's completed upload,
 * which publish copies; else the last checkpoint's).
 */
export function verifiedRecord(jobId: string, source: DiskIdentity, result: TransferResult, last: TransferCheckpoint | undefined): StagedDiskRecord {
  return {
    ...stagedRecord(jobId, source, { bytes: result.bytes, sha256: result.sha256 }),
    ...(result.file.state ? { sinkState: result.file.state } : last ? { sinkState: last.sink } : {}),
  };
}

/** What the workflow is told of a disk the transfer finished. */
export function transferredDisk(input: Pick<TransferDiskInput, 'diskKey' | 'fileName'>, result: TransferResult): TransferredDisk {
  return {
    diskKey: input.diskKey,
    fileName: input.fileName,
    bytes: result.bytes,
    sha256: result.sha256,
    resumedFromOffset: result.resumedFromOffset,
    restartedFromZero: result.restartedFromZero,
  };
}

export function stagedRecord(jobId: string, source: DiskIdentity, verified?: { bytes: number; sha256: string }): StagedDiskRecord {
  return { version: 1, jobId, verified: verified !== undefined, ...verified, source, updatedAt: new Date().toISOString() };
}

/**
 * Takes the staged slot of this disk for the job. Returns the earlier result when
 * a verified copy can stand for this transfer: this job's own (an attempt that
 * finished but was not reported), or an earlier job's from a provably identical
 * source. Any other job's staged copy is discarded before this job writes.
 */
export async function claimStaged(sink: OutputSink, input: TransferDiskInput, identity: DiskIdentity): Promise<TransferredDisk | undefined> {
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
  if (ours) return undefined;
  // Created only if no other claim appeared since the read above: of two exports
  // of one VM into one output starting together, one writes and the other is refused.
  const claim = stagedRecord(input.jobId, identity);
  const other = sink.createStaged ? await sink.createStaged(input.fileName, claim) : await sink.writeStaged(input.fileName, claim);
  if (other && other.jobId !== input.jobId) {
    throw ApplicationFailure.create({
      type: ErrorType.OutputInUse,
      message: `export ${other.jobId} claimed ${input.fileName} in this output at the same moment; wait for it to end, cancel it, or choose another output`,
      nonRetryable: true,
    });
  }
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
    const sibling = diskFileName(input.vm, i, input.image?.format);
    if (sibling === input.fileName) continue;
    const other = await sink.readStaged(sibling);
    if (other?.jobId === record.jobId) refuseIfInUse(other, sibling);
  }
}


/**
 * Rewrites a claim's record every RECORD_REFRESH_MS while its disk is written:
 * the record says the job is alive, so a second export of the same VM into the
 * same output is refused instead of discarding these bytes.
 */
export class ClaimRefresher {
  private refreshedAt = Date.now();
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly sink: OutputSink,
    private readonly name: string,
    private readonly record: () => StagedDiskRecord,
  ) {}

  /** Called often (each heartbeat tick); writes only when the record is due. */
  tick(): void {
    if (Date.now() - this.refreshedAt < RECORD_REFRESH_MS) return;
    this.refreshedAt = Date.now();
    this.refreshing = this.sink.writeStaged(this.name, this.record()).catch(() => undefined);
  }

  /** Waits for a refresh in flight: none may land after (and undo) the final record. */
  async settle(): Promise<void> {
    await this.refreshing;
  }
}
