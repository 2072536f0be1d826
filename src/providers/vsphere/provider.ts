// VsphereProvider: the SourceProvider for vCenter/ESXi, on one logged-in session.
import { request } from 'undici';
import { ErrorType } from '../../core/errors.js';
import type { DiskReader, DiskReadPlan, DiskReadVia, DiskSource, ExportSession, ExportTarget, SessionOutcome, SessionState, SourceProvider, VmStateOperations } from '../../core/source-provider.js';
import type { VmDescription, VmRef, VmStateChange, VmSummary } from '../../core/vm-description.js';
import { discoverVms, loadInventoryTree } from './discovery.js';
import { planDiskReads } from './disk-read-plan.js';
import { checkDownloadUrl, reportedHosts } from './download-hosts.js';
import { failure, faultName } from './faults.js';
import { leaseCall, leaseState, openLease } from './lease.js';
import { resolveVm } from './lookup.js';
import { retrieveOne } from './property-collector.js';
import { VsphereSession } from './session.js';
import { runTask } from './tasks.js';
import { VM_PROPERTIES, parseDatastorePath, toVmDescription } from './vm.js';
import { hardPowerOff, removeCdroms, shutdownGuest } from './vm-operations.js';
import { MoRef, moref, text, Typed } from './xml.js';

export interface VsphereConnectOptions {
  /** https://vcenter[:port]/sdk (a bare host or https://host is completed to /sdk). */
  url: string;
  username: string;
  password: string;
  /** Skip certificate verification. Explicit opt-in. */
  insecure?: boolean;
  /** Pin the server certificate by SHA-1 or SHA-256 thumbprint (hex, colons optional). */
  thumbprint?: string;
  /** Deadline of every SOAP call (default 60 s). */
  timeoutMs?: number;
  /** Largest SOAP response read (default 64 MiB); a larger one fails naming the cap. */
  maxResponseBytes?: number;
  /** How long to wait for tasks such as CreateSnapshot (default 30 min). */
  taskTimeoutMs?: number;
  /** How long to wait for an export lease to become ready (default 10 min). */
  leaseReadyTimeoutMs?: number;
}

/** Logs in and returns a provider bound to that session. */
export async function connectVsphere(options: VsphereConnectOptions): Promise<VsphereProvider> {
  const session = await VsphereSession.open({ ...options, url: sdkUrl(options.url) });
  return new VsphereProvider(session, options);
}

function sdkUrl(url: string): string {
  const withScheme = /^https?:\/\//i.test(url) ? url : `https://${url}`;
  const u = new URL(withScheme);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/sdk';
  return u.toString();
}

export class VsphereProvider implements SourceProvider, VmStateOperations {
  private readonly taskTimeoutMs: number;
  private readonly leaseReadyTimeoutMs: number;
  /** The vCenter certificate pin; datastore URLs are on the same host. */
  private readonly thumbprint: string | undefined;

  constructor(
    readonly session: VsphereSession,
    options: Pick<VsphereConnectOptions, 'taskTimeoutMs' | 'leaseReadyTimeoutMs' | 'thumbprint'> = {},
  ) {
    this.taskTimeoutMs = options.taskTimeoutMs ?? 30 * 60_000;
    this.leaseReadyTimeoutMs = options.leaseReadyTimeoutMs ?? 10 * 60_000;
    this.thumbprint = options.thumbprint;
  }

  private get collector(): MoRef {
    return this.session.content.propertyCollector;
  }

  async listVms(): Promise<VmSummary[]> {
    return (await discoverVms(this.session)).map(toSummary);
  }

  /** Every VM with its full description (disks, NICs, ...), in the same few round trips as listVms. */
  discoverVms(): Promise<VmDescription[]> {
    return discoverVms(this.session);
  }

  async describeVm(ref: VmRef): Promise<VmDescription> {
    const id = await resolveVm(this.session, ref);
    const [props, tree] = await Promise.all([
      retrieveOne(this.session.client, this.collector, vmRef(id), VM_PROPERTIES),
      loadInventoryTree(this.session),
    ]);
    return toVmDescription(id, props, tree);
  }

  async createSnapshot(vmId: string, name: string, description = ''): Promise<string> {
    const result = await runTask(
      this.session,
      'CreateSnapshot_Task',
      { _this: vmRef(vmId), name, description, memory: false, quiesce: false },
      { timeoutMs: this.taskTimeoutMs },
    );
    return moref(result).value;
  }

  async removeSnapshot(snapshotId: string): Promise<void> {
    try {
      await runTask(
        this.session,
        'RemoveSnapshot_Task',
        { _this: snapshotRef(snapshotId), removeChildren: false, consolidate: true },
        { timeoutMs: this.taskTimeoutMs },
      );
    } catch (err) {
      // Cleanup runs again after failures and retries: a snapshot already gone is done.
      if (faultName(err) === 'ManagedObjectNotFound') return;
      throw err;
    }
  }

  async powerOff(vmId: string, options: { graceful: boolean; timeoutMs: number }): Promise<void> {
    const vm = vmRef(vmId);
    if ((await this.powerState(vm)) === 'poweredOff') return;
    if (options.graceful) {
      const shutdownAccepted = await this.session.client
        .call('ShutdownGuest', { _this: vm })
        .then(() => true)
        // No VMware Tools, or a state that refuses it: fall through to a hard power-off.
        .catch((err: unknown) => {
          const type = err instanceof Error && 'type' in err ? (err as { type: unknown }).type : undefined;
          if (type === ErrorType.InvalidPowerState || type === ErrorType.NotSupported) return false;
          throw err;
        });
      if (shutdownAccepted) {
        const deadline = Date.now() + options.timeoutMs;
        let delay = 100;
        while (Date.now() < deadline) {
          if ((await this.powerState(vm)) === 'poweredOff') return;
          await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
          delay = Math.min(delay * 2, 2000);
        }
        if ((await this.powerState(vm)) === 'poweredOff') return;
      }
    }
    try {
      await runTask(this.session, 'PowerOffVM_Task', { _this: vm }, { timeoutMs: this.taskTimeoutMs });
    } catch (err) {
      // The guest may have finished shutting down between our last poll and the task.
      if ((await this.powerState(vm)) === 'poweredOff') return;
      throw err;
    }
  }

  shutdownGuest(ref: VmRef, timeoutMs: number): Promise<VmStateChange> {
    return shutdownGuest(this.session, ref, timeoutMs);
  }

  hardPowerOff(ref: VmRef, timeoutMs: number): Promise<VmStateChange> {
    return hardPowerOff(this.session, ref, timeoutMs);
  }

  removeCdroms(ref: VmRef, timeoutMs: number): Promise<VmStateChange> {
    return removeCdroms(this.session, ref, timeoutMs);
  }

  private async powerState(vm: MoRef): Promise<string> {
    return text(
      (await retrieveOne(this.session.client, this.collector, vm, ['runtime.powerState'])).get(
        'runtime.powerState',
      ),
    );
  }

  /** The NFC lease of ExportVm / ExportSnapshot, once ready. */
  async openExportSession(target: ExportTarget): Promise<ExportSession> {
    const source = target.kind === 'vm' ? vmRef(target.vmId) : snapshotRef(target.snapshotId);
    const method = target.kind === 'vm' ? 'ExportVm' : 'ExportSnapshot';
    // The disk layout the lease serves: the VM's now, or the snapshot's frozen config.
    const devices = (
      await retrieveOne(this.session.client, this.collector, source, ['config.hardware.device'])
    ).get('config.hardware.device');
    const lease = moref(await this.session.client.call(method, { _this: source }));
    try {
      return await openLease(this.session, lease, devices, { timeoutMs: this.leaseReadyTimeoutMs });
    } catch (err) {
      await this.abortLease(lease.value, 'lease did not become ready').catch(() => undefined);
      throw err;
    }
  }

  sessionState(leaseId: string): Promise<SessionState> {
    return leaseState(this.session, leaseRef(leaseId));
  }

  /** HttpNfcLeaseProgress: without it the lease times out (5 minutes). */
  async keepSessionAlive(leaseId: string, percent: number): Promise<void> {
    const lease = leaseRef(leaseId);
    const clamped = Math.max(0, Math.min(100, Math.round(percent)));
    await leaseCall(lease, () =>
      this.session.client.call('HttpNfcLeaseProgress', { _this: lease, percent: clamped }),
    );
  }

  /** HttpNfcLeaseComplete after a successful export, HttpNfcLeaseAbort otherwise. */
  releaseSession(leaseId: string, outcome: SessionOutcome): Promise<void> {
    return outcome.completed ? this.completeLease(leaseId) : this.abortLease(leaseId, outcome.reason);
  }

  private async completeLease(leaseId: string): Promise<void> {
    const lease = leaseRef(leaseId);
    await leaseCall(lease, () => this.session.client.call('HttpNfcLeaseComplete', { _this: lease }));
  }

  private async abortLease(leaseId: string, reason?: string): Promise<void> {
    const lease = leaseRef(leaseId);
    const fault = reason
      ? { fault: new Typed('SystemError', { reason }), localizedMessage: reason }
      : undefined;
    try {
      await this.session.client.call('HttpNfcLeaseAbort', { _this: lease, fault });
    } catch (err) {
      // Aborting a lease that already ended or vanished is what cleanup wanted anyway.
      const name = faultName(err);
      if (name === 'ManagedObjectNotFound' || name === 'InvalidState') return;
      throw err;
    }
  }

  /**
   * A disk's file: the flat extent on its datastore, read with ranges. Its
   * Content-Length (HEAD) is the exact size a GET serves: nothing writes to that
   * file meanwhile (a powered-off VM's disk, or the frozen base under the job's own
   * snapshot), so a GET of another size is not that file. A device of the NFC
   * lease: ExportVm/ExportSnapshot serve a streamOptimized VMDK compressed on the
   * fly, whose length exists only once the stream ends (the lease's fileSize is
   * "the size of the file, if known": absent or an estimate; vcsim reports 0), so
   * no exact size is held to, and the server ignores Range.
   */
  async openDiskReader(vm: VmDescription, diskKey: number, via: DiskReadVia): Promise<DiskReader> {
    if (via.kind === 'file') {
      const source = await this.datastoreDiskSource(vm, diskKey);
      if (!source.sslThumbprint && this.thumbprint) source.sslThumbprint = this.thumbprint;
      const size = source.sizeBytes;
      const exact = size !== undefined && Number.isSafeInteger(size) && size >= 0 ? size : undefined;
      return { source, reads: 'ranged', encoding: 'raw', ...(exact !== undefined ? { exactBytes: exact } : {}) };
    }
    // The session cookie goes only where the vCenter said its hosts are.
    await this.checkDownloadUrl(via.url);
    return {
      source: {
        url: via.url,
        headers: this.downloadHeaders(),
        ...(via.sizeBytes !== undefined ? { sizeBytes: via.sizeBytes } : {}),
        ...(via.sslThumbprint ? { sslThumbprint: via.sslThumbprint } : {}),
      },
      reads: 'stream',
      encoding: 'sniff',
    };
  }

  /** The datastore file where it is one flat extent the datastore serves, else the NFC stream (disk-read-plan.ts). */
  planDiskReads(vm: VmDescription, diskKeys?: number[]): Promise<DiskReadPlan[]> {
    return planDiskReads(this, vm, diskKeys);
  }

  async datastoreDiskSource(vm: VmDescription, diskKey: number): Promise<DiskSource> {
    const disk = vm.disks.find((d) => d.key === diskKey);
    if (!disk) throw failure(ErrorType.InvalidInput, `VM ${vm.name} has no disk with key ${diskKey}`, true);
    const { datastore, path } = parseDatastorePath(disk.backingFile);
    const headers = this.downloadHeaders();
    // On ESXi the .vmdk is a small descriptor and the data is in "<name>-flat.vmdk";
    // vcsim (and some formats) keep the data in the .vmdk itself. Prefer -flat when it exists.
    const candidates = path.endsWith('.vmdk') ? [path.replace(/\.vmdk$/, '-flat.vmdk'), path] : [path];
    for (const candidate of candidates) {
      const url = this.datastoreUrl(vm.datacenter, datastore, candidate);
      const head = await this.headFile(url, headers);
      if (head) return { url, headers, ...head };
    }
    // The datastore answered 404 for every name the disk's data can have: no retry brings it back.
    throw failure(
      ErrorType.SourceRefused,
      `disk file ${disk.backingFile} of VM ${vm.name} is not on its datastore (HTTP 404)`,
      true,
    );
  }

  /** https://host/folder/<path>?dcPath=<dc>&dsName=<ds> */
  datastoreUrl(datacenter: string, datastore: string, path: string): string {
    const base = this.session.client.url;
    const encodedPath = path.split('/').map(encodeURIComponent).join('/');
    return `${base.protocol}//${base.host}/folder/${encodedPath}?dcPath=${encodeURIComponent(datacenter)}&dsName=${encodeURIComponent(datastore)}`;
  }

  private async headFile(url: string, headers: Record<string, string>): Promise<Pick<DiskSource, 'sizeBytes' | 'validators'> | undefined> {
    const res = await request(url, {
      method: 'HEAD',
      headers,
      dispatcher: this.session.client.dispatcher,
      headersTimeout: this.session.client.timeoutMs,
      signal: AbortSignal.timeout(this.session.client.timeoutMs),
    });
    await res.body.dump();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw failure(
        ErrorType.AuthenticationFailed,
        `datastore access to ${new URL(url).pathname} refused (${res.statusCode})`,
        false,
      );
    }
    if (res.statusCode >= 300)
      throw failure(ErrorType.SoapFault, `HEAD ${new URL(url).pathname}: HTTP ${res.statusCode}`, false);
    const length = Number(res.headers['content-length']);
    const header = (name: string) => {
      const v = res.headers[name];
      return typeof v === 'string' && v ? v : undefined;
    };
    const etag = header('etag');
    const lastModified = header('last-modified');
    return {
      ...(Number.isFinite(length) ? { sizeBytes: length } : {}),
      ...(etag || lastModified ? { validators: { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) } } : {}),
    };
  }

  private esxiHosts: Promise<Set<string>> | undefined;

  /** Refuses (DeviceHostNotAllowed) a URL the session cookie must not be sent to (download-hosts.ts). */
  checkDownloadUrl(url: string): Promise<void> {
    return checkDownloadUrl(this.session, url, () => {
      if (!this.esxiHosts) {
        this.esxiHosts = reportedHosts(this.session);
        this.esxiHosts.catch(() => (this.esxiHosts = undefined));
      }
      return this.esxiHosts;
    });
  }

  downloadHeaders(): Record<string, string> {
    return this.session.client.cookie ? { cookie: this.session.client.cookie } : {};
  }

  logout(): Promise<void> {
    return this.session.logout();
  }
}

const vmRef = (id: string) => new MoRef('VirtualMachine', id);
const snapshotRef = (id: string) => new MoRef('VirtualMachineSnapshot', id);
const leaseRef = (id: string) => new MoRef('HttpNfcLease', id);

function toSummary(vm: VmDescription): VmSummary {
  return {
    id: vm.id,
    name: vm.name,
    path: vm.path,
    powerState: vm.powerState,
    guestId: vm.guestId,
    guestFullName: vm.guestFullName,
    numCpu: vm.numCpu,
    memoryMb: vm.memoryMb,
    storageBytes: vm.storageBytes,
  };
}
