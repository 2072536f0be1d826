// The snapshots prepare takes of an instance's (or a volume's) EBS volumes, and the
// one opaque id that names them for the rest of the export.
//
// The id is a snapshot set: "vol-a=snap-x,vol-b=snap-y", one volume=snapshot pair
// per volume, in the instance's device order. Only this provider parses it
// (parseSnapshotSet): the workflow records it and hands it back (openExtentSource,
// removeSnapshot).
//
// Taking a set is idempotent per name: every snapshot carries the tags Name=<name>
// and hypersdk:created-by=<name> (the name is the job's), and a set of that name
// already pending or completed (an earlier attempt of the same prepare that was
// killed before it could record the id) is reused instead of taking a second one.
// A set that cannot complete (a snapshot in error, the wait timed out) is deleted
// before the failure is thrown, so nothing is left behind that no one will clean up.
// removeSnapshot deletes only snapshots carrying hypersdk:created-by: a set id is
// workflow input, and must not be a way to delete someone else's snapshots.
import { SNAPSHOT_PAIR } from '../../core/aws-ids.js';
import {
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  DeleteSnapshotCommand,
  paginateDescribeSnapshots,
  type Filter,
  type Snapshot,
  type Tag,
} from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorType } from '../../core/errors.js';
import type { AwsClients } from './clients.js';
import { awsCall, failure, isNotFound } from './errors.js';

export const CREATED_BY_TAG = 'hypersdk:created-by';

export interface SnapshotPair {
  volumeId: string;
  snapshotId: string;
}

const PAIR = SNAPSHOT_PAIR;

export function encodeSnapshotSet(pairs: readonly SnapshotPair[]): string {
  return pairs.map((p) => `${p.volumeId}=${p.snapshotId}`).join(',');
}

/** The pairs of a set id; InvalidInput when it is not one this provider made. */
export function parseSnapshotSet(id: string, region: string): SnapshotPair[] {
  const parts = id.split(',');
  const pairs = parts
    .map((part) => PAIR.exec(part.trim()))
    .map((m) => (m ? { volumeId: m[1]!, snapshotId: m[2]! } : undefined));
  if (id.trim() === '' || pairs.some((p) => p === undefined)) {
    throw failure(
      ErrorType.InvalidInput,
      `AWS ${region}: "${id}" is not a snapshot set of this provider (vol-…=snap-…, comma-separated)`,
      true,
    );
  }
  return pairs as SnapshotPair[];
}

export interface SnapshotWaitOptions {
  /** How long a set may take to complete (default 2 h). */
  timeoutMs: number;
  /** How often its state is asked (default 5 s). */
  pollIntervalMs: number;
}

const FILTER_VALUES = 200;

export class SnapshotSets {
  constructor(
    private readonly c: AwsClients,
    private readonly wait: SnapshotWaitOptions,
  ) {}

  private get region(): string {
    return this.c.region;
  }

  /**
   * Snapshots of `volumeIds` (an instance's, in device order, when `instanceId` is
   * given: one CreateSnapshots, crash-consistent across them), completed, as a set id.
   */
  async take(
    source: { instanceId?: string; volumeIds: string[] },
    name: string,
    description: string,
  ): Promise<string> {
    const subject = source.instanceId
      ? `instance ${source.instanceId}`
      : `volume ${source.volumeIds.join(', ')}`;
    const earlier = await this.tagged(name, source.volumeIds);
    const failed = earlier.filter((s) => s.State === 'error');
    await this.delete(failed.map((s) => s.SnapshotId ?? ''));
    const reused = new Map<string, string>();
    for (const s of earlier) {
      if (
        (s.State === 'pending' || s.State === 'completed') &&
        s.VolumeId &&
        s.SnapshotId &&
        !reused.has(s.VolumeId)
      )
        reused.set(s.VolumeId, s.SnapshotId);
    }
    const missing = source.volumeIds.filter((v) => !reused.has(v));
    const tags: Tag[] = [
      { Key: 'Name', Value: name },
      { Key: CREATED_BY_TAG, Value: name },
    ];
    const created: SnapshotPair[] = [];
    if (source.instanceId && missing.length === source.volumeIds.length) {
      const out = await awsCall({ action: 'ec2:CreateSnapshots', region: this.region, subject }, () =>
        this.c.ec2.send(
          new CreateSnapshotsCommand({
            InstanceSpecification: { InstanceId: source.instanceId, ExcludeBootVolume: false },
            Description: description,
            CopyTagsFromSource: 'volume',
            TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }],
          }),
        ),
      );
      for (const s of out.Snapshots ?? [])
        if (s.VolumeId && s.SnapshotId) created.push({ volumeId: s.VolumeId, snapshotId: s.SnapshotId });
    } else {
      // A volume, or the volumes an earlier, partial set lacks: one CreateSnapshot each.
      for (const volumeId of missing) {
        const out = await awsCall(
          { action: 'ec2:CreateSnapshot', region: this.region, subject: `volume ${volumeId}` },
          () =>
            this.c.ec2.send(
              new CreateSnapshotCommand({
                VolumeId: volumeId,
                Description: description,
                TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }],
              }),
            ),
        );
        if (out.SnapshotId) created.push({ volumeId, snapshotId: out.SnapshotId });
      }
    }
    const pairs = [...[...reused].map(([volumeId, snapshotId]) => ({ volumeId, snapshotId })), ...created];
    // Device order first; a volume attached since the instance was described comes last.
    const order = (v: string) =>
      source.volumeIds.includes(v) ? source.volumeIds.indexOf(v) : source.volumeIds.length;
    pairs.sort((a, b) => order(a.volumeId) - order(b.volumeId));
    try {
      const lacking = source.volumeIds.filter((v) => !pairs.some((p) => p.volumeId === v));
      if (lacking.length > 0) {
        throw failure(
          ErrorType.SourceChanged,
          `AWS ${this.region}: no snapshot was taken of ${lacking.join(', ')} (${subject}): detached while it was snapshotted?`,
          false,
        );
      }
      await this.untilCompleted(pairs, subject);
    } catch (err) {
      await this.delete(pairs.map((p) => p.snapshotId)).catch(() => undefined);
      throw err;
    }
    return encodeSnapshotSet(pairs);
  }

  /** Deletes the snapshots of a set that this provider took (tagged); one already gone is fine. */
  async remove(setId: string): Promise<void> {
    const pairs = parseSnapshotSet(setId, this.region);
    const found = await this.describe(
      [{ Name: 'snapshot-id', Values: pairs.map((p) => p.snapshotId) }],
      `snapshot set ${setId}`,
    );
    const ours = found.filter((s) => s.Tags?.some((t) => t.Key === CREATED_BY_TAG));
    await this.delete(ours.map((s) => s.SnapshotId ?? ''));
    const foreign = found.filter((s) => !ours.includes(s)).map((s) => s.SnapshotId);
    if (foreign.length > 0) {
      throw failure(
        ErrorType.InvalidInput,
        `AWS ${this.region}: snapshot(s) ${foreign.join(', ')} were not taken by hypersdk (no ${CREATED_BY_TAG} tag): not deleted`,
        true,
      );
    }
  }

  private async untilCompleted(pairs: readonly SnapshotPair[], subject: string): Promise<void> {
    const deadline = Date.now() + this.wait.timeoutMs;
    const ids = pairs.map((p) => p.snapshotId);
    for (;;) {
      const found = await this.describe([{ Name: 'snapshot-id', Values: ids }], `snapshots of ${subject}`);
      const gone = ids.filter((id) => !found.some((s) => s.SnapshotId === id));
      if (gone.length > 0) {
        throw failure(
          ErrorType.SourceChanged,
          `AWS ${this.region}: snapshot(s) ${gone.join(', ')} of ${subject} were deleted before they completed`,
          false,
        );
      }
      const failed = found.filter((s) => s.State === 'error');
      if (failed.length > 0) {
        const what = failed
          .map((s) => `${s.SnapshotId} of ${s.VolumeId}${s.StateMessage ? ` (${s.StateMessage})` : ''}`)
          .join('; ');
        throw failure(
          ErrorType.TransferFailed,
          `AWS ${this.region}: snapshot of ${subject} failed: ${what}`,
          false,
        );
      }
      const pending = found.filter((s) => s.State !== 'completed');
      if (pending.length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        const progress = pending.map((s) => `${s.SnapshotId} ${s.Progress || '0%'}`).join(', ');
        throw failure(
          ErrorType.Timeout,
          `AWS ${this.region}: the snapshots of ${subject} did not complete within ${Math.round(this.wait.timeoutMs / 60_000)} min (${progress}); they were deleted (raise the AWS snapshot timeout for large volumes)`,
          true,
        );
      }
      await sleep(Math.min(this.wait.pollIntervalMs, left));
    }
  }

  /** This account's snapshots tagged as taken under `name`, of any of `volumeIds`. */
  private async tagged(name: string, volumeIds: readonly string[]): Promise<Snapshot[]> {
    const out: Snapshot[] = [];
    for (let i = 0; i < volumeIds.length; i += FILTER_VALUES) {
      const part = volumeIds.slice(i, i + FILTER_VALUES);
      out.push(
        ...(await this.describe(
          [
            { Name: `tag:${CREATED_BY_TAG}`, Values: [name] },
            { Name: 'volume-id', Values: part },
          ],
          `snapshots named ${name}`,
        )),
      );
    }
    // Newest first: a reused set takes each volume's latest.
    return out.sort((a, b) => (b.StartTime?.getTime() ?? 0) - (a.StartTime?.getTime() ?? 0));
  }

  /** Filters, not SnapshotIds: a snapshot already gone is missing from the answer instead of failing it. */
  private describe(filters: Filter[], subject: string): Promise<Snapshot[]> {
    return awsCall({ action: 'ec2:DescribeSnapshots', region: this.region, subject }, async () => {
      const out: Snapshot[] = [];
      for await (const page of paginateDescribeSnapshots(
        { client: this.c.ec2, pageSize: 1000 },
        { OwnerIds: ['self'], Filters: filters },
      ))
        out.push(...(page.Snapshots ?? []));
      return out;
    });
  }

  private async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (!id) continue;
      try {
        await awsCall({ action: 'ec2:DeleteSnapshot', region: this.region, subject: `snapshot ${id}` }, () =>
          this.c.ec2.send(new DeleteSnapshotCommand({ SnapshotId: id })),
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}
