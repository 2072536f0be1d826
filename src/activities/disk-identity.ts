// What a staged disk is a copy of. A verified disk left by a failed export is
// reused by a later job only when this identity says the source is provably the
// same: the same VM and disk, the same export target (the VM as it is; never a
// snapshot, whose id is new each job), and HTTP validators of the backing file
// that have not changed. Without validators nothing is provable: no reuse.
import type { ExportTarget, DiskSource } from '../core/source-provider.js';
import type { VmDescription } from '../core/vm-description.js';
import type { StagedDiskRecord } from '../storage/sink.js';

export type DiskIdentity = StagedDiskRecord['source'];

export function diskIdentity(vm: VmDescription, diskKey: number, target: ExportTarget | undefined, validators: DiskSource['validators']): DiskIdentity {
  const disk = vm.disks.find((d) => d.key === diskKey);
  const id: DiskIdentity = {
    vm: vm.instanceUuid || vm.id,
    diskKey,
    backingFile: disk?.backingFile ?? '',
    capacityBytes: disk?.capacityBytes ?? -1,
    target: target ? (target.kind === 'vm' ? `vm:${target.vmId}` : `snapshot:${target.snapshotId}`) : 'unknown',
  };
  if (validators?.etag) id.etag = validators.etag;
  if (validators?.lastModified) id.lastModified = validators.lastModified;
  return id;
}

/** True when `earlier` and `now` provably describe the same bytes. */
export function provablySame(earlier: DiskIdentity, now: DiskIdentity): boolean {
  if (now.etag === undefined && now.lastModified === undefined) return false;
  if (typeof now.target !== 'string' || !now.target.startsWith('vm:')) return false;
  const keys = new Set([...Object.keys(earlier), ...Object.keys(now)]);
  for (const k of keys) if (earlier[k] !== now[k]) return false;
  return true;
}
