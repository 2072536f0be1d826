// An OVA written in place. When every disk's size is known before the transfers
// (datastore reads of flat extents: the HEAD gives it), the archive is planned
// up front: the descriptor's exact bytes follow from the VM and the sizes, the
// manifest's size from the file names (each line holds a fixed-length SHA-256).
// prepareOva creates the archive's partial at its final size (sparse), each
// transfer writes its disk straight into its region, and finalize writes the tar
// headers, descriptor and manifest around them and renames the archive: no second
// copy of the data, and no pass over it after the transfers.
import { ApplicationFailure } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { manifestFileName, ovaFileName, ovfFileName } from '../export/disk-files.js';
import { ErrorType } from '../core/errors.js';
import { generateManifest, generateOvf } from '../export/ovf.js';
import type { ExportedFile } from '../core/export-contract.js';
import { diskFileName } from '../export/disk-files.js';
import { manifestByteSize, planOvaLayout, type OvaLayout } from '../formats/ova-layout.js';
import type { VmDescription } from '../core/vm-description.js';
import type { OutputSink } from '../storage/sink.js';
import type { ExportActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import { refuseIfInUse } from './staging.js';
import type { ExportActivities, FinalizedExport, OvaPlan, TransferredDisk } from './types.js';

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

function descriptorFor(vm: VmDescription, diskBytes: number[], removeCdrom: boolean): string {
  return generateOvf(
    vm,
    vm.disks.map((d, i) => ({ diskKey: d.key, fileName: diskFileName(vm, i), sizeBytes: diskBytes[i]! })),
    { removeCdrom, diskFormat: 'flat' },
  );
}

/** The archive's layout: the same bytes from the same plan, in every activity. */
export function ovaLayout(vm: VmDescription, plan: Pick<OvaPlan, 'descriptorBytes' | 'diskBytes' | 'mtime'>): OvaLayout {
  const ovfName = ovfFileName(vm);
  const disks = vm.disks.map((_, i) => ({ name: diskFileName(vm, i), sizeBytes: plan.diskBytes[i]! }));
  return planOvaLayout({
    descriptor: { name: ovfName, sizeBytes: plan.descriptorBytes },
    manifest: { name: manifestFileName(vm), sizeBytes: manifestByteSize([ovfName, ...disks.map((d) => d.name)]) },
    disks,
    mtime: plan.mtime,
  });
}

export function createPrepareOvaActivity(deps: ExportActivityDeps): Pick<ExportActivities, 'prepareOva'> {
  return {
    prepareOva: ({ jobId, source, sink: sinkRef, vm, removeCdrom, mtime }) =>
      whileHeartbeating(async (): Promise<OvaPlan | null> => {
        const sink = await deps.sinks.open(sinkRef);
        if (!sink.archives) return null;
        const provider = await deps.providers.get(source);
        const diskBytes: number[] = [];
        for (const disk of vm.disks) {
          const size = (await provider.openDiskReader(vm, disk.key, { kind: 'file' })).exactBytes;
          if (size === undefined) return null; // not known up front: packed after the transfers
          diskBytes.push(size);
        }
        const descriptorBytes = Buffer.byteLength(descriptorFor(vm, diskBytes, removeCdrom));
        const layout = ovaLayout(vm, { descriptorBytes, diskBytes, mtime });
        const name = ovaFileName(vm);
        // The partial is this job's: a leftover of another job is dropped first.
        const record = await sink.readStaged(name);
        if (record && record.jobId !== jobId) {
          refuseIfInUse(record, name);
          await sink.discardStaged(name);
        }
        if (record?.jobId !== jobId) await sink.writeStaged(name, { version: 1, jobId, verified: false, source: { archive: name }, updatedAt: new Date().toISOString() });
        await sink.archives.create(name, layout.totalSize);
        return {
          name,
          mtime,
          descriptorBytes,
          diskBytes,
          regions: layout.disks.map((d) => ({ name: d.name, dataOffset: d.dataOffset, sizeBytes: d.sizeBytes })),
          totalBytes: layout.totalSize,
        };
      }),
  };
}

function refuse(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.SinkError, message, nonRetryable: true });
}

/** Finalize of an OVA written in place: headers, descriptor and manifest around the disks, then publish. */
export async function finalizeOvaInPlace(
  sink: OutputSink,
  vm: VmDescription,
  disks: TransferredDisk[],
  plan: OvaPlan,
  removeCdrom: boolean,
): Promise<FinalizedExport> {
  const archives = sink.archives;
  if (!archives) throw refuse(`${sink.location} cannot hold an OVA written in place`);
  const diskBytes = disks.map((d) => d.bytes);
  if (diskBytes.some((b, i) => b !== plan.diskBytes[i])) {
    throw refuse(`the disks transferred have ${diskBytes.join(', ')} bytes, the OVA was planned for ${plan.diskBytes.join(', ')}`);
  }
  const ovf = descriptorFor(vm, diskBytes, removeCdrom);
  if (Buffer.byteLength(ovf) !== plan.descriptorBytes) throw refuse(`the OVF descriptor has ${Buffer.byteLength(ovf)} bytes, the OVA was planned for ${plan.descriptorBytes}`);
  const ovfFile: ExportedFile = { name: ovfFileName(vm), sizeBytes: Buffer.byteLength(ovf), sha256: sha256(ovf) };
  const diskFiles: ExportedFile[] = disks.map((d) => ({ name: d.fileName, sizeBytes: d.bytes, sha256: d.sha256 }));
  const manifest = generateManifest([ovfFile, ...diskFiles].map((f) => ({ name: f.name, sha256: f.sha256! })));
  const manifestFile: ExportedFile = { name: manifestFileName(vm), sizeBytes: Buffer.byteLength(manifest), sha256: sha256(manifest) };
  const layout = ovaLayout(vm, plan);
  await whileHeartbeating(() => archives.writeHeaders(plan.name, layout, { descriptor: ovf, manifest }));
  const published = await archives.publish(plan.name);
  if (published.sizeBytes !== plan.totalBytes) throw refuse(`${published.uri} has ${published.sizeBytes} bytes, the OVA was planned for ${plan.totalBytes}`);
  return {
    outputDir: sink.location,
    // The descriptor and the manifest are members of the archive.
    ovfPath: published.uri,
    manifestPath: published.uri,
    ovaPath: published.uri,
    files: [{ name: plan.name, sizeBytes: published.sizeBytes }],
    members: [ovfFile, manifestFile, ...diskFiles],
  };
}
