// AzureProvider: the SourceProvider for one subscription (and, for VMs named
// without a resource id, one resource group). Disks are managed disks, read from
// snapshots: prepare takes one incremental snapshot per disk (requiresSnapshot),
// the transfer reads each snapshot's page blob through a read SAS that
// GrantAccess gives (openExtentSource: a PageBlobSource, which asks for a new SAS
// when one expires), cleanup revokes the access and deletes the snapshots. There
// is no export session and no HTTP disk reader: those calls answer NotSupported.
import type { ComputeManagementClient } from '@azure/arm-compute';
import { ErrorType } from '../../core/errors.js';
import type { ExtentSource } from '../../core/extent-source.js';
import { SessionlessProvider } from '../../core/sessionless-provider.js';
import type {
  DiskReader,
  DiskReadPlan,
  DiskReadVia,
  ExportTarget,
  SourceProvider,
} from '../../core/source-provider.js';
import type { VmDescription, VmRef, VmSummary } from '../../core/vm-description.js';
import { resourceManagerOrigin } from './clients.js';
import { AzureInventory, describeRef, listVms } from './describe.js';
import { failure } from './errors.js';
import { orderedDisks } from './hardware.js';
import { parseComputeId, parseSnapshotSet, sameId } from './ids.js';
import { NicReader } from './network.js';
import { PageBlobSource } from './page-blob-source.js';
import { deallocateVm } from './power.js';
import { SnapshotSets } from './snapshots.js';

export interface AzureProviderOptions {
  subscriptionId: string;
  /** Resource Manager's endpoint, as the client was built for (clients.ts); the NICs are read there too. Default: Azure's public cloud. */
  resourceManagerEndpoint?: string;
  /** Where VMs named without a resource id are, and what listVms lists (absent: the whole subscription). */
  resourceGroup?: string;
  /** How long snapshots may take to become readable (default 2 h). */
  snapshotTimeoutMs?: number;
  /** How often long-running operations and snapshot copies are polled (default: the SDK's 2 s, or the Retry-After Azure sends; copies every 5 s). */
  pollIntervalMs?: number;
  /** How long one GrantAccess lasts before the transfer asks for another (default 1 h). */
  accessSeconds?: number;
  /** Ranged GETs in flight per disk (default: PageBlobSource's, 16). */
  readConcurrency?: number;
}

export class AzureProvider extends SessionlessProvider implements SourceProvider {
  protected readonly noSession = 'Azure disks are read from snapshots through GrantAccess, no export session';
  private readonly inventory: AzureInventory;
  private readonly snapshots: SnapshotSets;
  private readonly pollIntervalMs: number | undefined;

  constructor(
    readonly client: ComputeManagementClient,
    private readonly options: AzureProviderOptions,
  ) {
    super();
    this.inventory = new AzureInventory(client, options.subscriptionId, options.resourceGroup, new NicReader(client, resourceManagerOrigin(options.resourceManagerEndpoint)));
    this.pollIntervalMs = options.pollIntervalMs;
    this.snapshots = new SnapshotSets(client, { timeoutMs: options.snapshotTimeoutMs ?? 2 * 3_600_000, ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}) });
  }

  listVms(): Promise<VmSummary[]> {
    return listVms(this.inventory);
  }

  describeVm(ref: VmRef): Promise<VmDescription> {
    return describeRef(this.inventory, ref);
  }

  /** Managed disks are read from snapshots only. */
  requiresSnapshot(_vm: VmDescription): boolean {
    return true;
  }

  /** One snapshot per managed disk of the VM, readable, as a snapshot set id (see ids.ts); a retry with the same name reuses them. */
  async createSnapshot(vmId: string, name: string, description = ''): Promise<string> {
    const ref = this.inventory.ref(vmId);
    const vm = await this.inventory.vm(ref, false);
    const disks = orderedDisks(vm.storageProfile?.osDisk, vm.storageProfile?.dataDisks);
    const refused = disks.find((d) => d.refusal);
    if (refused) throw failure(ErrorType.NotSupported, `Azure: VM ${ref.name}: ${refused.refusal}`, true);
    if (disks.length === 0) throw failure(ErrorType.InvalidInput, `Azure: VM ${ref.name} has no managed disk to export`, true);
    return this.snapshots.take(
      ref.name,
      disks.map((d) => ({ slot: d.slot, diskId: d.managedDiskId!, location: vm.location ?? '' })),
      name,
      description,
    );
  }

  /** Revokes read access to the set's snapshots and deletes them (only those this provider tagged). */
  removeSnapshot(snapshotId: string): Promise<void> {
    return this.snapshots.remove(snapshotId);
  }

  /** A set the job keeps: its snapshots stay, their read access (the export's SAS) ends. */
  endSnapshotAccess(snapshotId: string): Promise<void> {
    return this.snapshots.revokeAll(snapshotId);
  }

  /** Deallocates the VM (Azure shuts the guest down first); `graceful` is Azure's own. */
  async powerOff(vmId: string, options: { graceful: boolean; timeoutMs: number }): Promise<void> {
    await deallocateVm(this.client, this.inventory.ref(vmId), { timeoutMs: options.timeoutMs, ...(this.pollIntervalMs ? { pollIntervalMs: this.pollIntervalMs } : {}) });
  }

  openDiskReader(vm: VmDescription, diskKey: number, _via: DiskReadVia): Promise<DiskReader> {
    return Promise.reject(failure(ErrorType.NotSupported, `Azure: disk ${diskKey} of ${vm.name} is read as page ranges of its snapshot (openExtentSource), not as one HTTP stream`, true));
  }

  planDiskReads(vm: VmDescription, diskKeys?: number[]): Promise<DiskReadPlan[]> {
    const disks = diskKeys ? vm.disks.filter((d) => diskKeys.includes(d.key)) : vm.disks;
    return Promise.resolve(
      disks.map((d) => ({ diskKey: d.key, via: 'file' as const, reason: "resumable; ranged reads of the snapshot's page blob (only the pages holding data)" })),
    );
  }

  /**
   * The page blob of one disk's snapshot (from the set prepare took), read through
   * a read SAS of GrantAccess; asked again when it expires. Incremental exports
   * (since) are not offered: they need the page-range diff of two snapshots.
   */
  async openExtentSource(vm: VmDescription, diskKey: number, target: ExportTarget, options: { since?: string } = {}): Promise<ExtentSource> {
    if (options.since !== undefined) throw failure(ErrorType.NotSupported, 'Azure: incremental exports (since_snapshot) are not supported yet; export the whole VM', true);
    const disk = vm.disks.find((d) => d.key === diskKey);
    if (!disk) throw failure(ErrorType.InvalidInput, `Azure: ${vm.name} has no disk ${diskKey}`, true);
    if (target.kind !== 'snapshot') throw failure(ErrorType.InvalidInput, `Azure: disk ${disk.label} of ${vm.name} is a live managed disk: it is read from a snapshot prepare takes`, true);
    const pair = parseSnapshotSet(target.snapshotId).find((p) => sameId(p.diskId, disk.backingFile));
    if (!pair) throw failure(ErrorType.InvalidInput, `Azure: the snapshot set of ${vm.name} has no snapshot of ${disk.label}`, true);
    const snapshot = pair.snapshot;
    const seconds = this.options.accessSeconds ?? 3_600;
    const source = await PageBlobSource.open({
      sas: () => this.snapshots.grantRead(snapshot, seconds),
      name: `${snapshot.name} (snapshot of ${parseComputeId(disk.backingFile)?.name ?? disk.label})`,
      ...(this.options.readConcurrency ? { concurrency: this.options.readConcurrency } : {}),
    });
    if (source.sizeBytes !== disk.capacityBytes) {
      await source.close();
      throw failure(ErrorType.SizeMismatch, `Azure: snapshot ${snapshot.name} holds ${source.sizeBytes} bytes and disk ${disk.label} of ${vm.name} ${disk.capacityBytes}`, true);
    }
    // Nothing closes it after the transfer: its idle connections are closed by undici (keep-alive timeout), then it is garbage.
    return source;
  }

  /** Nothing to log out of: tokens are the credential chain's, and expire. */
  logout(): Promise<void> {
    return Promise.resolve();
  }
}
