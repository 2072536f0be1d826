// How to read each disk of a vSphere VM (method `auto`): the path that can resume
// whenever it can serve the disk.
//
// The datastore method reads the backing's flat extent with ranged `/folder` GETs,
// so a killed worker or a dropped connection costs one heartbeat window. The NFC
// lease (ExportVm/ExportSnapshot) serves a generated stream without `Range`: any
// interruption restarts that disk from zero. The datastore read is right only
// when the backing at export time is one flat extent with no parent, and nothing
// writes to it meanwhile: a powered-off VM without snapshots, or the frozen base
// under the job's own snapshot of a VM that had none (the description is taken
// before that snapshot, so its backing file is that base). Anything else — a
// chain to flatten, a backing that is not a flat extent, `/folder` refused or the
// file not there — goes through the lease.
import { ErrorType } from '../../core/errors.js';
import type { DiskReadPlan, SourceProvider } from '../../core/source-provider.js';
import type { DiskDescription, VmDescription } from '../../core/vm-description.js';

/** What a HEAD of the disk's flat extent on its datastore answered. */
export type DatastoreProbe = { kind: 'ok' } | { kind: 'refused'; status: number } | { kind: 'absent' };

/** Backing types whose data file is one flat extent the datastore serves as is. */
const FLAT_BACKINGS = new Set(['VirtualDiskFlatVer2BackingInfo', 'VirtualDiskFlatVer1BackingInfo']);

export const RESUMABLE_REASON = 'resumable';
const STREAM = 'stream: restarts from zero if interrupted, because';

/**
 * Whether the disk can be read from the datastore, decided from its description
 * alone (no probe needed to say no). Returns the reason it cannot, or undefined.
 */
export function whyNotDatastore(vm: VmDescription, disk: DiskDescription): string | undefined {
  if (vm.hasSnapshots) return `${STREAM} the VM already had snapshots (its disks are delta chains)`;
  if (disk.backingParent) return `${STREAM} the disk's backing has a parent (${disk.backingParent})`;
  // Descriptions recorded before the backing type was read carry none: the
  // probe below still has to find the file.
  if (disk.backingType !== undefined && !FLAT_BACKINGS.has(disk.backingType)) {
    return `${STREAM} the disk's backing is not a flat extent (${disk.backingType})`;
  }
  if (!disk.backingFile) return `${STREAM} the disk has no backing file on a datastore`;
  return undefined;
}

/** The method for one disk, from its description and what the datastore HEAD answered. */
export function chooseDiskRead(vm: VmDescription, disk: DiskDescription, probe: DatastoreProbe | undefined): DiskReadPlan {
  const no = whyNotDatastore(vm, disk);
  if (no) return { diskKey: disk.key, via: 'session', reason: no };
  if (!probe || probe.kind === 'absent') {
    return { diskKey: disk.key, via: 'session', reason: `${STREAM} the datastore does not serve the disk's file ${disk.backingFile} (HTTP 404)` };
  }
  if (probe.kind === 'refused') {
    return { diskKey: disk.key, via: 'session', reason: `${STREAM} the datastore refused to serve the disk's file ${disk.backingFile} (HTTP ${probe.status})` };
  }
  return { diskKey: disk.key, via: 'file', reason: RESUMABLE_REASON };
}

/**
 * HEADs the disk's flat extent. Refusals (401/403) and absence (404) are answers;
 * anything else (5xx, vCenter unreachable) is thrown, so the activity retries
 * rather than settle a 2 TiB disk on the stream because of one hiccup.
 */
export async function probeDatastore(provider: Pick<SourceProvider, 'openDiskReader'>, vm: VmDescription, diskKey: number): Promise<DatastoreProbe> {
  try {
    await provider.openDiskReader(vm, diskKey, { kind: 'file' });
    return { kind: 'ok' };
  } catch (err) {
    const type = (err as { type?: unknown }).type;
    const message = err instanceof Error ? err.message : String(err);
    if (type === ErrorType.AuthenticationFailed) {
      const status = /\((\d{3})\)/.exec(message)?.[1];
      return { kind: 'refused', status: status ? Number(status) : 403 };
    }
    if (/is not on its datastore/.test(message)) return { kind: 'absent' };
    throw err;
  }
}

/** Every disk's plan (or those of `diskKeys`): a HEAD of the file only where the description allows the file at all. */
export async function planDiskReads(provider: Pick<SourceProvider, 'openDiskReader'>, vm: VmDescription, diskKeys?: number[]): Promise<DiskReadPlan[]> {
  const plans: DiskReadPlan[] = [];
  for (const disk of vm.disks.filter((d) => !diskKeys || diskKeys.includes(d.key))) {
    const probe = whyNotDatastore(vm, disk) ? undefined : await probeDatastore(provider, vm, disk.key);
    plans.push(chooseDiskRead(vm, disk, probe));
  }
  return plans;
}
