// AwsProvider: the SourceProvider for one AWS region. Disks are EBS volumes, read
// through the EBS direct APIs from snapshots (EbsSnapshotSource): prepare takes a
// snapshot set of the instance (requiresSnapshot), the transfer reads each disk's
// snapshot as extents (openExtentSource), cleanup deletes the set. There is no
// export session and no HTTP disk reader: those calls answer NotSupported.
import { SNAPSHOT_ID } from '../../core/aws-ids.js';
import { SessionlessProvider } from '../../core/sessionless-provider.js';
import type {
  DiskReader,
  DiskReadPlan,
  DiskReadVia,
  ExportTarget,
  SourceProvider,
} from '../../core/source-provider.js';
import type { ExtentSource } from '../../core/extent-source.js';
import { ErrorType } from '../../core/errors.js';
import type { VmDescription, VmRef, VmSummary } from '../../core/vm-description.js';
import type { AwsClients } from './clients.js';
import { describeRef, listInstances, sourceKindOf } from './describe.js';
import { closeBlockReader, EbsSnapshotSource } from './ebs-snapshot-source.js';
import { failure } from './errors.js';
import { orderedEbsDevices } from './hardware.js';
import { Ec2Inventory } from './inventory.js';
import { stopInstance } from './power.js';
import { parseSnapshotSet, SnapshotSets } from './snapshots.js';

export interface AwsProviderOptions {
  /** How long createSnapshot waits for a snapshot set to complete (default 2 h). */
  snapshotTimeoutMs?: number;
  /** How often snapshot and instance states are polled (default 5 s). */
  pollIntervalMs?: number;
  /** How long a forced stop may take (default 10 min). */
  forcedStopTimeoutMs?: number;
  /** GetSnapshotBlock calls in flight per disk (default: EbsSnapshotSource's, 32). */
  readConcurrency?: number;
}

export class AwsProvider extends SessionlessProvider implements SourceProvider {
  protected readonly noSession = 'AWS disks are read from EBS snapshots, no export session';
  private readonly inventory: Ec2Inventory;
  private readonly snapshots: SnapshotSets;
  private readonly pollIntervalMs: number;

  constructor(
    readonly clients: AwsClients,
    private readonly options: AwsProviderOptions = {},
  ) {
    super();
    this.inventory = new Ec2Inventory(clients);
    this.pollIntervalMs = options.pollIntervalMs ?? 5_000;
    this.snapshots = new SnapshotSets(clients, {
      timeoutMs: options.snapshotTimeoutMs ?? 2 * 3_600_000,
      pollIntervalMs: this.pollIntervalMs,
    });
  }

  get region(): string {
    return this.clients.region;
  }

  listVms(): Promise<VmSummary[]> {
    return listInstances(this.inventory);
  }

  describeVm(ref: VmRef): Promise<VmDescription> {
    return describeRef(this.inventory, ref);
  }

  /** EBS direct APIs read snapshots only: every source but a snapshot must be snapshotted first. */
  requiresSnapshot(vm: VmDescription): boolean {
    return vm.disks.length === 0 || vm.disks.some((d) => d.snapshotId === undefined);
  }

  /**
   * Snapshots of the instance's EBS volumes (or of the volume), completed, as one
   * snapshot set id "vol-a=snap-x,vol-b=snap-y" (see snapshots.ts). A retry with the
   * same name reuses the set an earlier attempt started.
   */
  async createSnapshot(vmId: string, name: string, description = ''): Promise<string> {
    const kind = sourceKindOf(vmId);
    if (kind === 'instance') {
      const instance = await this.inventory.instance(vmId);
      const volumeIds = orderedEbsDevices(instance.BlockDeviceMappings ?? [], instance.RootDeviceName).map(
        (d) => d.volumeId,
      );
      if (volumeIds.length === 0)
        throw failure(
          ErrorType.InvalidInput,
          `AWS ${this.region}: instance ${vmId} has no EBS volume to export`,
          true,
        );
      return this.snapshots.take({ instanceId: vmId, volumeIds }, name, description);
    }
    if (kind === 'volume') return this.snapshots.take({ volumeIds: [vmId] }, name, description);
    throw failure(
      ErrorType.InvalidInput,
      `AWS ${this.region}: ${vmId} is ${kind === 'snapshot' ? 'already a snapshot: it is read as it is' : 'not an instance or volume id'}`,
      true,
    );
  }

  removeSnapshot(snapshotId: string): Promise<void> {
    return this.snapshots.remove(snapshotId);
  }

  async powerOff(vmId: string, options: { graceful: boolean; timeoutMs: number }): Promise<void> {
    if (sourceKindOf(vmId) !== 'instance') return; // a volume or snapshot has nothing to power off
    await stopInstance(this.clients, vmId, {
      ...options,
      pollIntervalMs: this.pollIntervalMs,
      forcedTimeoutMs: this.options.forcedStopTimeoutMs ?? 10 * 60_000,
    });
  }

  openDiskReader(vm: VmDescription, diskKey: number, _via: DiskReadVia): Promise<DiskReader> {
    return Promise.reject(
      failure(
        ErrorType.NotSupported,
        `AWS: disk ${diskKey} of ${vm.name} is read as extents of its EBS snapshot (openExtentSource), not over HTTP`,
        true,
      ),
    );
  }

  planDiskReads(vm: VmDescription, diskKeys?: number[]): Promise<DiskReadPlan[]> {
    const disks = diskKeys ? vm.disks.filter((d) => diskKeys.includes(d.key)) : vm.disks;
    return Promise.resolve(
      disks.map((d) => ({
        diskKey: d.key,
        via: 'file' as const,
        reason: "resumable; EBS direct reads of the snapshot's blocks (only those holding data)",
      })),
    );
  }

  /**
   * The EBS snapshot of one disk: from the snapshot set prepare took (target
   * 'snapshot': the disk's volume → its snapshot), or the disk's own snapshot (a
   * snapshot source, target 'vm'). A snapshot not yet completed is a retryable failure.
   * With `since`, only the blocks changed since the earlier snapshot of the same
   * disk it names (a snapshot set "vol-…=snap-…,…", or one snapshot id for a one-disk source).
   */
  async openExtentSource(
    vm: VmDescription,
    diskKey: number,
    target: ExportTarget,
    options: { since?: string } = {},
  ): Promise<ExtentSource> {
    const disk = vm.disks.find((d) => d.key === diskKey);
    if (!disk)
      throw failure(ErrorType.InvalidInput, `AWS ${this.region}: ${vm.name} has no disk ${diskKey}`, true);
    let snapshotId: string | undefined;
    if (target.kind === 'snapshot') {
      snapshotId =
        parseSnapshotSet(target.snapshotId, this.region).find((p) => p.volumeId === disk.backingFile)
          ?.snapshotId ?? disk.snapshotId;
      if (!snapshotId) {
        throw failure(
          ErrorType.InvalidInput,
          `AWS ${this.region}: the snapshot set ${target.snapshotId} has no snapshot of disk ${disk.label} (volume ${disk.backingFile}) of ${vm.name}`,
          true,
        );
      }
    } else {
      snapshotId = disk.snapshotId;
      if (!snapshotId) {
        throw failure(
          ErrorType.InvalidInput,
          `AWS ${this.region}: disk ${disk.label} (volume ${disk.backingFile}) of ${vm.name} is a live EBS volume: it is read from a snapshot prepare takes, not as it is`,
          true,
        );
      }
      const snapshot = await this.inventory.snapshot(snapshotId);
      if (snapshot.State !== 'completed') {
        throw failure(
          ErrorType.TransferFailed,
          `AWS ${this.region}: snapshot ${snapshotId} is ${snapshot.State ?? 'not ready'} (${snapshot.Progress || '0%'}): read once it has completed`,
          false,
        );
      }
    }
    const since = options.since === undefined ? undefined : this.earlierSnapshotOf(vm, disk, options.since);
    return EbsSnapshotSource.open({
      ebs: this.clients.ebs,
      snapshotId,
      region: this.region,
      ...(since ? { since } : {}),
      ...(this.options.readConcurrency ? { concurrency: this.options.readConcurrency } : {}),
    });
  }

  /** The snapshot of `disk` in `since`: its volume's pair in a snapshot set, or the one id of a one-disk source. */
  private earlierSnapshotOf(vm: VmDescription, disk: VmDescription['disks'][number], since: string): string {
    if (SNAPSHOT_ID.test(since.trim())) {
      if (vm.disks.length === 1) return since.trim();
      throw failure(
        ErrorType.InvalidInput,
        `since_snapshot: ${vm.name} has ${vm.disks.length} disks; name the earlier snapshot of each as the earlier export's result did (vol-…=snap-…, comma-separated)`,
        true,
      );
    }
    const pair = parseSnapshotSet(since, this.region).find((p) => p.volumeId === disk.backingFile);
    if (!pair) {
      throw failure(
        ErrorType.InvalidInput,
        `since_snapshot: ${since} has no snapshot of disk ${disk.label} (volume ${disk.backingFile}) of ${vm.name}`,
        true,
      );
    }
    return pair.snapshotId;
  }

  /** Closes the clients' sockets; the provider is not used after. */
  async logout(): Promise<void> {
    await closeBlockReader(this.clients.ebs);
    this.clients.ec2.destroy();
    this.clients.ebs.destroy();
  }
}
