// Azure resource ids as this provider reads and writes them: a VM reference (a
// full resource id, or a name in the source's resource group), the managed disks
// and snapshots it names, the snapshot names it makes and the snapshot set id that
// carries them through the workflow.
//
// A snapshot set is "<disk id>=<snapshot id>,…", one pair per disk in the VM's
// disk order (OS disk, then data disks by LUN). Only this provider parses it: the
// workflow records it and hands it back (openExtentSource, removeSnapshot).
import { createHash } from 'node:crypto';
import { RESOURCE_GROUP, SUBSCRIPTION_ID as GUID } from '../../core/azure-ids.js';
import { ErrorType } from '../../core/errors.js';
import { failure } from './errors.js';

export interface ResourceId {
  subscriptionId: string;
  resourceGroup: string;
  /** e.g. "virtualMachines", "disks", "snapshots" (Microsoft.Compute). */
  type: string;
  name: string;
}

const COMPUTE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/([^/]+)\/([^/]+)\/?$/i;
/** VM, disk and snapshot names: 1-80 letters, digits, _ - . (Azure allows fewer for some). */
const NAME = /^\w[-\w.]{0,79}$/;

export function isSubscriptionId(s: string): boolean {
  return GUID.test(s);
}

export function isResourceGroup(s: string): boolean {
  return RESOURCE_GROUP.test(s);
}

/** The parts of a Microsoft.Compute resource id, or undefined when `id` is not one. */
export function parseComputeId(id: string): ResourceId | undefined {
  const m = COMPUTE_ID.exec(id.trim());
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, type, name] = m as unknown as [string, string, string, string, string];
  if (!GUID.test(subscriptionId) || !RESOURCE_GROUP.test(resourceGroup) || !NAME.test(name)) return undefined;
  return { subscriptionId, resourceGroup, type, name };
}

export function computeId(r: ResourceId): string {
  return `/subscriptions/${r.subscriptionId}/resourceGroups/${r.resourceGroup}/providers/Microsoft.Compute/${r.type}/${r.name}`;
}

/** Resource ids compare without regard to case, as Azure compares them. */
export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * The VM a reference names in `subscriptionId`: a full VM resource id (its
 * subscription must be the source's), or a VM name in `resourceGroup`
 * ("group/name" also names one).
 */
export function vmRefOf(ref: string, subscriptionId: string, resourceGroup: string | undefined): ResourceId {
  const text = ref.trim();
  if (text.startsWith('/')) {
    const id = parseComputeId(text);
    if (!id || id.type.toLowerCase() !== 'virtualmachines') {
      throw failure(ErrorType.InvalidInput, `Azure: "${text}" is not a VM resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.Compute/virtualMachines/NAME)`, true);
    }
    if (id.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
      throw failure(ErrorType.InvalidInput, `Azure: VM ${id.name} is in subscription ${id.subscriptionId}, and this source reads subscription ${subscriptionId}`, true);
    }
    return { ...id, type: 'virtualMachines' };
  }
  const slash = text.split('/');
  const [group, name] = slash.length === 2 ? [slash[0]!, slash[1]!] : [resourceGroup, text];
  if (!NAME.test(name)) throw failure(ErrorType.InvalidInput, `Azure: "${text}" is not a VM name or resource id`, true);
  if (!group) {
    throw failure(ErrorType.InvalidInput, `Azure: VM "${name}" is named without its resource group: give the VM's resource id, or the source's resource_group`, true);
  }
  if (!RESOURCE_GROUP.test(group)) throw failure(ErrorType.InvalidInput, `Azure: "${group}" is not a resource group name`, true);
  return { subscriptionId, resourceGroup: group, type: 'virtualMachines', name };
}

/**
 * The snapshot name of one disk of an export: `<job name>-<disk>` (e.g.
 * "hypersdk-export-job1-os", "…-lun3"), made of the characters Azure allows and at
 * most 80 long (a longer one keeps its start and a hash of the whole).
 */
export function snapshotName(jobName: string, disk: string): string {
  const full = `${jobName}-${disk}`.replace(/[^-\w.]/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  const name = full.length <= 80 ? full : `${full.slice(0, 71)}-${createHash('sha256').update(full).digest('hex').slice(0, 8)}`;
  // It must end in a letter, a digit or "_" (the disk's part always does).
  return name.replace(/[-.]+$/, '');
}

export interface SnapshotPair {
  diskId: string;
  snapshotId: string;
}

export function encodeSnapshotSet(pairs: readonly SnapshotPair[]): string {
  return pairs.map((p) => `${p.diskId}=${p.snapshotId}`).join(',');
}

/** The pairs of a set id; InvalidInput when it is not one this provider made. */
export function parseSnapshotSet(set: string): (SnapshotPair & { snapshot: ResourceId })[] {
  const pairs = set.split(',').map((part) => {
    const [disk, snapshot, extra] = part.trim().split('=');
    const d = disk ? parseComputeId(disk) : undefined;
    const s = snapshot ? parseComputeId(snapshot) : undefined;
    if (extra !== undefined || !d || !s || d.type.toLowerCase() !== 'disks' || s.type.toLowerCase() !== 'snapshots') return undefined;
    return { diskId: disk!.trim(), snapshotId: snapshot!.trim(), snapshot: s };
  });
  if (set.trim() === '' || pairs.some((p) => p === undefined)) {
    throw failure(ErrorType.InvalidInput, `Azure: "${set}" is not a snapshot set of this provider (<disk id>=<snapshot id>, comma-separated)`, true);
  }
  return pairs as (SnapshotPair & { snapshot: ResourceId })[];
}
