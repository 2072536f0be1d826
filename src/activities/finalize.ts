// Writes the OVF descriptor and the SHA-256 manifest next to the disks (and, for
// format ova, packs them into one tar with the descriptor first).
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { manifestFileName, ovaFileName, ovfFileName } from '../export/disk-files.js';
import { ErrorType } from '../core/errors.js';
import { generateManifest, generateOvf } from '../export/ovf.js';
import { diskImageOf, type ExportedFile } from '../core/export-contract.js';
import type { ExportActivityDeps } from './deps.js';
import { ovaNeedsLocalOutput, packOva } from './ova.js';
import { packOvaFromStaged } from './ova-pack.js';
import type { ExportActivities, FinalizeInput, FinalizedExport, TransferredDisk } from './types.js';
import type { OutputSink } from '../storage/sink.js';
import { whileHeartbeating } from './heartbeat.js';
import { finalizeOvaInPlace } from './ova-in-place.js';

/** Disks streamed through the export session (vSphere's NFC lease) arrive as streamOptimized VMDKs; datastore reads are the flat extent's raw bytes. */
const formatOf = (method: 'ovf' | 'datastore') => (method === 'ovf' ? 'streamOptimized' : 'flat');

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export function createFinalizeActivity(deps: ExportActivityDeps): Pick<ExportActivities, 'finalizeExport'> {
  return {
    async finalizeExport({ jobId, sink: sinkRef, vm, disks, format, diskImage, removeCdrom, method, diskMethods, ova: inPlace, packMtime, overwrite }): Promise<FinalizedExport> {
      const sink = await deps.sinks.open(sinkRef);
      // An OVA of disks whose sizes came with the transfers: packed resumably from the staged copies.
      const packing = format === 'ova' && packMtime !== undefined && sink.archives !== undefined;
      if (!overwrite && !packing) await refuseNewcomers(sink, vm, disks, inPlace?.name);
      if (inPlace) return finalizeOvaInPlace(sink, vm, disks, inPlace, removeCdrom);
      const ovfName = ovfFileName(vm);
      const image = diskImageOf({ format, ...(diskImage ? { diskImage } : {}) });
      const ovf = generateOvf(
        vm,
        disks.map((d) => {
          // Method auto reads disks different ways: each declares the format it was read in.
          const own = image ? undefined : diskMethods?.find((m) => m.diskKey === d.diskKey)?.method;
          return { diskKey: d.diskKey, fileName: d.fileName, sizeBytes: d.bytes, ...(own ? { diskFormat: formatOf(own) } : {}) };
        }),
        { removeCdrom, diskFormat: image ?? formatOf(method) },
      );
      const diskFiles: ExportedFile[] = disks.map((d) => ({ name: d.fileName, sizeBytes: d.bytes, sha256: d.sha256 }));
      const ovfFile: ExportedFile = { name: ovfName, sizeBytes: Buffer.byteLength(ovf), sha256: sha256(ovf) };
      const manifestName = manifestFileName(vm);
      const manifest = generateManifest([ovfFile, ...diskFiles].map((f) => ({ name: f.name, sha256: f.sha256! })));
      const manifestFile: ExportedFile = { name: manifestName, sizeBytes: Buffer.byteLength(manifest), sha256: sha256(manifest) };

      if (packing) {
        const ctx = Context.current();
        const { copiedBytes, ...packed } = await whileHeartbeating((beat) =>
          packOvaFromStaged({
            sink,
            jobId,
            name: ovaFileName(vm),
            disks,
            descriptor: { name: ovfName, text: ovf },
            manifest: { name: manifestName, text: manifest },
            mtime: packMtime,
            overwrite: overwrite ?? false,
            resume: ctx.info.heartbeatDetails,
            beat,
            signal: ctx.cancellationSignal,
          }),
        );
        log.info('OVA packed from the staged disks', { ova: packed.ovaPath, copiedBytes, attempt: ctx.info.attempt });
        return packed;
      }

      // Publish the disks first and the descriptor and manifest last: an export's
      // .mf under its final name means every file it lists is complete. Each move
      // is idempotent, so a retried finalize picks up where it stopped.
      await whileHeartbeating(async () => {
        for (const d of disks) await publishDisk(sink, d);
      });
      await sink.writeFile(ovfName, ovf);
      await sink.writeFile(manifestName, manifest);
      const files = [ovfFile, manifestFile, ...diskFiles];
      const result: FinalizedExport = {
        outputDir: sink.location,
        ovfPath: sink.describe(ovfName),
        manifestPath: sink.describe(manifestName),
        files,
      };
      if (format !== 'ova') return result;

      if (sinkRef.kind !== 'local') throw ovaNeedsLocalOutput(ovaFileName(vm));
      const ova = await whileHeartbeating(() => packOva(sink, ovaFileName(vm), files.map((f) => f.name)));
      return { ...result, ovaPath: ova.uri, files: [...files, { name: ova.name, sizeBytes: ova.sizeBytes, sha256: ova.sha256 }] };
    },
  };
}

/**
 * Moves one staged disk under its final name, after checking that the staged copy
 * is the one the transfer verified (a record from another job, or another hash,
 * means something else wrote there since: never publish it).
 */
async function publishDisk(sink: OutputSink, disk: TransferredDisk): Promise<void> {
  if (sink.stages) {
    const record = await sink.readStaged(disk.fileName);
    // No record: a retry after this disk was already published.
    if (record && (!record.verified || record.sha256 !== disk.sha256 || record.bytes !== disk.bytes)) {
      throw ApplicationFailure.create({
        type: ErrorType.SinkError,
        message: `the staged copy of ${disk.fileName} is not the verified one (expected ${disk.bytes} bytes, sha256 ${disk.sha256}); refusing to publish it`,
        nonRetryable: true,
      });
    }
  }
  const published = await sink.publish(disk.fileName);
  if (published.sizeBytes !== disk.bytes) {
    throw ApplicationFailure.create({
      type: ErrorType.SinkError,
      message: `${published.uri} has ${published.sizeBytes} bytes after publishing, expected ${disk.bytes}`,
      nonRetryable: true,
    });
  }
}

/**
 * checkOutput ran before the transfers; another export may have published files
 * of the same names since. A final name that exists while this job's copy of it
 * is still staged was not made by this job: refuse (OutputExists) rather than
 * replace it. (A retry of this finalize finds its own published disks with their
 * staged copies gone, and is not refused for them.)
 */
async function refuseNewcomers(sink: OutputSink, vm: FinalizeInput['vm'], disks: TransferredDisk[], archive: string | undefined): Promise<void> {
  const stillStaged: string[] = [];
  if (archive) {
    if (await sink.readStaged(archive)) stillStaged.push(archive);
  } else {
    for (const d of disks) if ((await sink.readStaged(d.fileName))?.verified) stillStaged.push(d.fileName);
    // Nothing published yet: the descriptor and manifest are not this job's either.
    if (stillStaged.length === disks.length) stillStaged.push(ovfFileName(vm), manifestFileName(vm));
  }
  const clash = await sink.existing(stillStaged);
  if (clash.length === 0) return;
  throw ApplicationFailure.create({
    type: ErrorType.OutputExists,
    message: `${sink.location} gained ${clash.join(', ')} from another export while this one ran; nothing was replaced (submit with overwrite: true to replace them)`,
    nonRetryable: true,
  });
}
