// The snapshots prepare takes of a VM's managed disks, the read access to them,
// and their removal.
//
// One incremental snapshot per disk (Azure has no multi-disk snapshot call: they
// are taken together, not atomically), in the disk's resource group and location,
// named "<job name>-os" / "<job name>-lun<N>" and tagged hypersdk:created-by=<job
// name>. Taking is idempotent per name: a snapshot of that name this job already
// made (an earlier attempt of the same prepare) is reused, so a retry never leaves
// a second copy behind. A set that cannot be completed is deleted before the
// failure is thrown. An incremental snapshot is readable once its background copy
// is done (completionPercent 100): take() waits for that.
//
// Read access: GrantAccess (beginGetAccess, read, bounded duration) gives a SAS
// URL of the snapshot's page blob; RevokeAccess (endGetAccess) ends it. Removal
// revokes then deletes, and only snapshots carrying hypersdk:created-by: a set id
// is workflow input, and must not be a way to delete someone else's snapshots.
import type { ComputeManagementClient, Snapshot } from '@azure/arm-compute';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorType } from '../../core/errors.js';
import { azureCall, failure, isNotFound } from './errors.js';
import { computeId, encodeSnapshotSet, parseComputeId, parseSnapshotSet, snapshotName, type ResourceId, type SnapshotPair } from './ids.js';

export const CREATED_BY_TAG = 'hypersdk:created-by';

export interface SnapshotOptions {
  /** How long a set may take to become readable (default 2 h). */
  timeoutMs: number;
  /** How often Resource Manager's long-running operations and the copy progress are polled (default: the SDK's interval or Azure's Retry-After; copies every 5 s). */
  pollIntervalMs?: number;
}

export interface DiskToSnapshot {
  /** "os" or "lun<N>". */
  slot: string;
  diskId: string;
  location: string;
}

const subjectOf = (s: ResourceId) => `snapshot "${s.name}" in resource group ${s.resourceGroup}`;

export class SnapshotSets {
  constructor(
    private readonly client: ComputeManagementClient,
    private readonly o: SnapshotOptions,
  ) {}

  /** Options of a long-running operation's poller. */
  private lro(): { updateIntervalInMs?: number } {
    return this.o.pollIntervalMs ? { updateIntervalInMs: this.o.pollIntervalMs } : {};
  }

  /** Snapshots of `disks`, readable, as a set id. */
  async take(vmName: string, disks: readonly DiskToSnapshot[], name: string, description: string): Promise<string> {
    const made: ResourceId[] = [];
    try {
      // Settled, not raced: every snapshot started is in `made` before a failure deletes them.
      const settled = await Promise.allSettled(
        disks.map(async (d): Promise<SnapshotPair> => {
          const disk = parseComputeId(d.diskId);
          if (!disk) throw failure(ErrorType.InvalidInput, `Azure: "${d.diskId}" is not a managed disk id`, true);
          const snapshot: ResourceId = { subscriptionId: disk.subscriptionId, resourceGroup: disk.resourceGroup, type: 'snapshots', name: snapshotName(name, d.slot) };
          await this.takeOne(snapshot, d, name, description, made);
          return { diskId: d.diskId, snapshotId: computeId(snapshot) };
        }),
      );
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const pairs = settled.map((r) => (r as PromiseFulfilledResult<SnapshotPair>).value);
      await Promise.all(made.map((s) => this.waitReadable(s, vmName)));
      return encodeSnapshotSet(pairs);
    } catch (err) {
      // Nothing half-made is left for no one to clean up.
      await Promise.allSettled(made.map((s) => this.deleteOne(s)));
      throw err;
    }
  }

  private async takeOne(snapshot: ResourceId, d: DiskToSnapshot, name: string, description: string, made: ResourceId[]): Promise<void> {
    const subject = subjectOf(snapshot);
    const existing = await azureCall({ action: 'Microsoft.Compute/snapshots/read', subject }, () => this.client.snapshots.get(snapshot.resourceGroup, snapshot.name)).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (existing) {
      if (existing.tags?.[CREATED_BY_TAG] !== name) {
        throw failure(ErrorType.InvalidInput, `Azure: ${subject} exists and was not made by this export: not reused, not replaced`, true);
      }
      if (existing.provisioningState?.toLowerCase() !== 'failed') {
        made.push(snapshot);
        return;
      }
      await this.deleteOne(snapshot); // failed: taken again
    }
    made.push(snapshot);
    await azureCall({ action: 'Microsoft.Compute/snapshots/write', subject }, () =>
      this.client.snapshots.beginCreateOrUpdateAndWait(
        snapshot.resourceGroup,
        snapshot.name,
        {
          location: d.location,
          tags: { [CREATED_BY_TAG]: name, 'hypersdk:description': description.slice(0, 256) },
          creationData: { createOption: 'Copy', sourceResourceId: d.diskId },
          incremental: true,
        },
        this.lro(),
      ),
    );
  }

  /** Until the snapshot's background copy is done (incremental snapshots are readable only then). */
  private async waitReadable(snapshot: ResourceId, vmName: string): Promise<void> {
    const deadline = Date.now() + this.o.timeoutMs;
    for (;;) {
      const s: Snapshot = await azureCall({ action: 'Microsoft.Compute/snapshots/read', subject: subjectOf(snapshot) }, () => this.client.snapshots.get(snapshot.resourceGroup, snapshot.name));
      const state = s.provisioningState?.toLowerCase();
      if (state === 'failed') throw failure(ErrorType.TransferFailed, `Azure: ${subjectOf(snapshot)} of VM ${vmName} failed${s.copyCompletionError ? ` (${s.copyCompletionError.errorCode}: ${s.copyCompletionError.errorMessage})` : ''}`, false);
      const copied = s.completionPercent === undefined || s.completionPercent >= 100;
      if (state === 'succeeded' && copied) return;
      if (Date.now() >= deadline) {
        throw failure(ErrorType.Timeout, `Azure: ${subjectOf(snapshot)} of VM ${vmName} was not readable within ${Math.round(this.o.timeoutMs / 60_000)} min (${s.provisioningState ?? 'no state'}, ${s.completionPercent ?? 0}% copied)`, false);
      }
      await sleep(this.o.pollIntervalMs ?? 5_000);
    }
  }

  /** A read SAS of the snapshot for `durationSeconds` (GrantAccess). */
  async grantRead(snapshot: ResourceId, durationSeconds: number): Promise<{ url: string; expiresAt: Date }> {
    const granted = Date.now();
    const access = await azureCall({ action: 'Microsoft.Compute/snapshots/beginGetAccess/action', subject: subjectOf(snapshot) }, () =>
      this.client.snapshots.beginGrantAccessAndWait(snapshot.resourceGroup, snapshot.name, { access: 'Read', durationInSeconds: durationSeconds }, this.lro()),
    );
    if (!access.accessSAS) throw failure(ErrorType.TransferFailed, `Azure: GrantAccess on ${subjectOf(snapshot)} answered no SAS`, false);
    return { url: access.accessSAS, expiresAt: new Date(granted + durationSeconds * 1000) };
  }

  /** Ends every read access to the snapshot (RevokeAccess); one without access is left as it is. */
  revoke(snapshot: ResourceId): Promise<void> {
    return azureCall({ action: 'Microsoft.Compute/snapshots/endGetAccess/action', subject: subjectOf(snapshot) }, () =>
      this.client.snapshots.beginRevokeAccessAndWait(snapshot.resourceGroup, snapshot.name, this.lro()),
    );
  }

  private async deleteOne(snapshot: ResourceId): Promise<void> {
    try {
      await this.revoke(snapshot);
      await azureCall({ action: 'Microsoft.Compute/snapshots/delete', subject: subjectOf(snapshot) }, () =>
        this.client.snapshots.beginDeleteAndWait(snapshot.resourceGroup, snapshot.name, this.lro()),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err; // gone already: what removal wants
    }
  }

  /** Ends the read access to every snapshot of the set (a set the job keeps); one already gone is no error. */
  async revokeAll(set: string): Promise<void> {
    const results = await Promise.allSettled(parseSnapshotSet(set).map(({ snapshot }) => this.revoke(snapshot)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isNotFound(r.reason));
    if (failed) throw failed.reason;
  }

  /** Revokes access to and deletes every snapshot of the set this provider made (tagged); the rest is refused. */
  async remove(set: string): Promise<void> {
    const pairs = parseSnapshotSet(set);
    const errors: unknown[] = [];
    const untagged: string[] = [];
    await Promise.all(
      pairs.map(async ({ snapshot }) => {
        try {
          const s = await azureCall({ action: 'Microsoft.Compute/snapshots/read', subject: subjectOf(snapshot) }, () => this.client.snapshots.get(snapshot.resourceGroup, snapshot.name));
          if (!s.tags?.[CREATED_BY_TAG]) {
            untagged.push(snapshot.name);
            return;
          }
          await this.deleteOne(snapshot);
        } catch (err) {
          if (!isNotFound(err)) errors.push(err);
        }
      }),
    );
    if (errors.length > 0) throw errors[0];
    if (untagged.length > 0) {
      throw failure(ErrorType.InvalidInput, `Azure: snapshot(s) ${untagged.join(', ')} carry no ${CREATED_BY_TAG} tag: hypersdk deletes only the snapshots it made`, true);
    }
  }
}
