// An OVA packed after the transfers, resumably. When the disk sizes are only known
// once the disks are in (NFC streams: streamOptimized VMDKs of unknown length), the
// archive cannot be planned up front (ova-in-place.ts). Finalize then plans it from
// the transferred sizes, creates the partial at its final size and copies each
// staged, verified disk into its region with the same region writers the in-place
// path uses, heartbeating (disk, durable offset). A retried finalize (killed
// worker, machine restart) resumes where the durable copy stopped, instead of
// packing a 2 TiB archive again from its first byte. The staged disks are removed
// once the archive is published: the archive is the export, not a second copy.
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import type { ExportedFile } from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import { manifestByteSize, planOvaLayout } from '../formats/ova-layout.js';
import type { ArchiveStaging, OutputSink, WriterResumePoint } from '../storage/sink.js';
import { ClaimRefresher, refuseIfInUse } from './staging.js';
import type { FinalizedExport, TransferredDisk } from './types.js';

/** What a packing heartbeats: disks before `disk` are in the archive, durably; `writer` is the resume point inside `disk`. */
export interface PackCheckpoint {
  pack: 1;
  disk: number;
  writer?: WriterResumePoint;
  /** The archive is published: only the staged disks remain to be removed. */
  published?: boolean;
}

export interface PackOvaRequest {
  sink: OutputSink;
  jobId: string;
  name: string;
  disks: TransferredDisk[];
  descriptor: { name: string; text: string };
  manifest: { name: string; text: string };
  mtime: number;
  /** Replace an OVA of that name that is not this job's (otherwise OutputExists). */
  overwrite: boolean;
  /** The last heartbeat of an earlier attempt, if any. */
  resume?: unknown;
  beat: (checkpoint: PackCheckpoint) => void;
  signal: AbortSignal;
  /** How often the copy commits and heartbeats its durable offset. */
  commitEveryMs?: number;
}

export interface PackOvaResult extends FinalizedExport {
  /** Bytes copied by this attempt (for tests and logs: a resumed attempt copies fewer). */
  copiedBytes: number;
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

function refuse(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.SinkError, message, nonRetryable: true });
}

function asCheckpoint(value: unknown): PackCheckpoint | undefined {
  const cp = value as Partial<PackCheckpoint> | undefined;
  return cp?.pack === 1 && typeof cp.disk === 'number' ? (cp as PackCheckpoint) : undefined;
}

export async function packOvaFromStaged(req: PackOvaRequest): Promise<PackOvaResult> {
  const { sink, name, disks } = req;
  const archives = sink.archives;
  if (!archives) throw refuse(`${sink.location} cannot hold an OVA`);
  const layout = planOvaLayout({
    descriptor: { name: req.descriptor.name, sizeBytes: Buffer.byteLength(req.descriptor.text) },
    manifest: {
      name: req.manifest.name,
      sizeBytes: manifestByteSize([req.descriptor.name, ...disks.map((d) => d.fileName)]),
    },
    disks: disks.map((d) => ({ name: d.fileName, sizeBytes: d.bytes })),
    mtime: req.mtime,
  });
  if (Buffer.byteLength(req.manifest.text) !== layout.manifest.sizeBytes) {
    throw refuse(
      `the manifest has ${Buffer.byteLength(req.manifest.text)} bytes, its place in the OVA ${layout.manifest.sizeBytes}`,
    );
  }
  let resume = asCheckpoint(req.resume);
  let copiedBytes = 0;

  const record = await sink.readStaged(name);
  const ours = record?.jobId === req.jobId;
  const finalExists = (await sink.existing([name])).length > 0;
  // An earlier attempt packed (resume) and the archive's record is gone: only its
  // publish removes it, so the final file is this job's archive.
  const alreadyPublished = resume?.published === true || (resume !== undefined && !record && finalExists);
  if (!alreadyPublished) {
    if (finalExists && !req.overwrite) {
      throw ApplicationFailure.create({
        type: ErrorType.OutputExists,
        message: `${sink.location} gained ${name} from another export while this one ran; nothing was replaced (submit with overwrite: true to replace it)`,
        nonRetryable: true,
      });
    }
    if (!ours) {
      // A leftover of another job under the name is dropped first; its bytes are no resume point.
      if (record) {
        refuseIfInUse(record, name);
        await sink.discardStaged(name);
      }
      resume = undefined;
      await sink.writeStaged(name, {
        version: 1,
        jobId: req.jobId,
        verified: false,
        source: { archive: name },
        updatedAt: new Date().toISOString(),
      });
    }
    // Kept as is when it already has the planned size (a resumed packing).
    await archives.create(name, layout.totalSize);
    // The record says this job is alive (a second export into the directory is
    // refused instead of discarding the archive): refreshed as the copy commits.
    const claim = new ClaimRefresher(sink, name, () => ({
      version: 1,
      jobId: req.jobId,
      verified: false,
      source: { archive: name },
      updatedAt: new Date().toISOString(),
    }));
    const beat = req.beat;
    req = {
      ...req,
      beat: (cp) => {
        beat(cp);
        claim.tick();
      },
    };
    for (let i = resume?.disk ?? 0; i < disks.length; i++) {
      const writer = resume && i === resume.disk ? resume.writer : undefined;
      copiedBytes += await copyDisk(req, archives, i, layout.disks[i]!, writer);
      req.beat({ pack: 1, disk: i + 1 });
    }
    // No refresh may land after publish (and bring the record back).
    await claim.settle();
    await archives.writeHeaders(name, layout, {
      descriptor: req.descriptor.text,
      manifest: req.manifest.text,
    });
  }
  const published = await archives.publish(name);
  if (published.sizeBytes !== layout.totalSize)
    throw refuse(
      `${published.uri} has ${published.sizeBytes} bytes, the OVA was planned for ${layout.totalSize}`,
    );
  req.beat({ pack: 1, disk: disks.length, published: true });
  // Every disk is inside the published archive now: drop this job's staged copies (only its own).
  for (const d of disks)
    if ((await sink.readStaged(d.fileName))?.jobId === req.jobId) await sink.discardStaged(d.fileName);

  const ovfFile: ExportedFile = {
    name: req.descriptor.name,
    sizeBytes: Buffer.byteLength(req.descriptor.text),
    sha256: sha256(req.descriptor.text),
  };
  const manifestFile: ExportedFile = {
    name: req.manifest.name,
    sizeBytes: Buffer.byteLength(req.manifest.text),
    sha256: sha256(req.manifest.text),
  };
  return {
    outputDir: sink.location,
    ovfPath: published.uri,
    manifestPath: published.uri,
    ovaPath: published.uri,
    files: [{ name, sizeBytes: published.sizeBytes }],
    members: [
      ovfFile,
      manifestFile,
      ...disks.map((d) => ({ name: d.fileName, sizeBytes: d.bytes, sha256: d.sha256 })),
    ],
    copiedBytes,
  };
}

/**
 * Copies staged disk `index` into its region from the durable resume point,
 * hashing every byte (the prefix re-read from the staged copy) and comparing with
 * the transfer's verified SHA-256. Returns the bytes copied.
 */
async function copyDisk(
  req: PackOvaRequest,
  archives: ArchiveStaging,
  index: number,
  region: { name: string; dataOffset: number; sizeBytes: number },
  checkpoint: WriterResumePoint | undefined,
): Promise<number> {
  const disk = req.disks[index]!;
  const record = await req.sink.readStaged(disk.fileName);
  if (
    !record ||
    record.jobId !== req.jobId ||
    !record.verified ||
    record.sha256 !== disk.sha256 ||
    record.bytes !== disk.bytes
  ) {
    throw refuse(
      `the staged copy of ${disk.fileName} is not the one this export verified; refusing to pack it`,
    );
  }
  const writer = await archives.openRegion(req.name, region, {
    sizeBytes: disk.bytes,
    stage: true,
    ...(checkpoint ? { checkpoint } : {}),
  });
  let copied = 0;
  try {
    const start = writer.resumeOffset;
    const hash = createHash('sha256');
    if (start > 0)
      for await (const chunk of archives.readVerified(disk.fileName, 0, start)) hash.update(chunk);
    let committedAt = Date.now();
    for await (const chunk of archives.readVerified(disk.fileName, start)) {
      if (req.signal.aborted) throw new CancelledFailure(`packing ${req.name} cancelled`);
      hash.update(chunk);
      await writer.write(chunk);
      copied += chunk.length;
      if (Date.now() - committedAt >= (req.commitEveryMs ?? 2_000)) {
        const commit = await writer.commit();
        req.beat({ pack: 1, disk: index, writer: { offset: commit.offset, sink: commit.state } });
        committedAt = Date.now();
      }
    }
    await writer.finish();
    const digest = hash.digest('hex');
    if (digest !== disk.sha256)
      throw refuse(
        `the staged copy of ${disk.fileName} changed after it was verified (sha256 ${digest}, verified ${disk.sha256})`,
      );
    return copied;
  } finally {
    await writer.close().catch(() => undefined);
  }
}
