// Snapshots, export leases, datastore downloads and power operations against the
// harness vcsim, on VMs this file creates (the shared inventory stays untouched).
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../../src/core/errors.js';
import type { VmDescription } from '../../src/core/vm-description.js';
import type { VsphereProvider } from '../../src/providers/vsphere/index.js';
import { runTask } from '../../src/providers/vsphere/tasks.js';
import { MoRef } from '../../src/providers/vsphere/xml.js';
import { diskContentRange, writeVmDiskContent, type WrittenDisk } from '../harness/vcsim-disks.js';
import { connect, createVm, runGovc, services, uniqueName } from './helpers.js';

const SIZE = 8 * 1024 * 1024 + 123; // not a multiple of any block size
const SEED = 'snapshot-export';

async function download(provider: VsphereProvider, url: string, headers: Record<string, string>) {
  const res = await request(url, { headers, dispatcher: provider.session.client.dispatcher });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { status: res.statusCode, bytes, sha256: hash.digest('hex') };
}

async function snapshotNames(vmPath: string): Promise<string[]> {
  return (await runGovc(['snapshot.tree', '-vm', vmPath]))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

describe('vSphere snapshots and export', () => {
  let provider: VsphereProvider;
  let vmPath = '';
  let vm: VmDescription;
  let written: WrittenDisk;

  beforeAll(async () => {
    vmPath = await createVm(uniqueName('vsphere-export'), { on: true });
    written = await writeVmDiskContent(services(), vmPath, { sizeBytes: SIZE, seed: SEED });
    provider = await connect();
    vm = await provider.describeVm(vmPath);
  });
  afterAll(async () => {
    await runGovc(['vm.destroy', vmPath]).catch(() => undefined);
    await provider?.logout();
  });

  it('snapshots a powered-on VM, exports the snapshot with known bytes, completes the lease, removes the snapshot', async () => {
    expect(vm.powerState).toBe('poweredOn');
    const snapshotId = await provider.createSnapshot(vm.id, 'hypersdk-export', 'test');
    expect(snapshotId).toMatch(/^snapshot-\d+$/);
    expect(await snapshotNames(vmPath)).toContain('hypersdk-export');
    try {
      let lease;
      try {
        lease = await provider.openExportSession({ kind: 'snapshot', snapshotId });
      } catch (err) {
        // govmomi's vcsim implements ExportSnapshot only from v0.50; the pinned v0.46.3
        // answers "does not implement". That must surface as NotSupported (what the
        // `auto` method falls back on), and the fallback source must serve the same bytes.
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect((err as ApplicationFailure).type).toBe(ErrorType.NotSupported);
        expect((err as ApplicationFailure).message).toMatch(/ExportSnapshot/);
        console.warn('vcsim has no ExportSnapshot: checked NotSupported and the datastore fallback instead');
        const source = await provider.datastoreDiskSource(vm, vm.disks[0]?.key ?? -1);
        const got = await download(provider, source.url, source.headers);
        expect(got).toEqual({ status: 200, bytes: SIZE, sha256: written.sha256 });
        return;
      }
      const disks = lease.devices.filter((d) => d.isDisk);
      expect(disks.length).toBe(1);
      expect(disks[0]?.diskKey).toBe(vm.disks[0]?.key);
      expect(disks[0]?.url).not.toContain('*');
      expect(await provider.sessionState(lease.id)).toBe('ready');
      await provider.keepSessionAlive(lease.id, 50);
      const got = await download(provider, disks[0]?.url ?? '', provider.downloadHeaders());
      expect(got).toEqual({ status: 200, bytes: SIZE, sha256: written.sha256 });
      await provider.releaseSession(lease.id, { completed: true });
      expect(await provider.sessionState(lease.id).catch(() => 'done')).toBe('done');
    } finally {
      await provider.removeSnapshot(snapshotId);
    }
    expect(await snapshotNames(vmPath)).not.toContain('hypersdk-export');
    // Removing again (cleanup after a retry) is not an error.
    await provider.removeSnapshot(snapshotId);
  });

  it('describes how each disk is read: its file ranged with the exact size, a device URL as a stream, a foreign host refused', async () => {
    const key = vm.disks[0]?.key ?? -1;
    const file = await provider.openDiskReader(vm, key, { kind: 'file' });
    expect(file).toMatchObject({ reads: 'ranged', encoding: 'raw', exactBytes: SIZE });
    expect(file.source.url).toMatch(/\/folder\/.+-flat\.vmdk\?dcPath=DC0&dsName=LocalDS_0$/);
    const whole = await download(provider, file.source.url, file.source.headers);
    expect(whole).toEqual({ status: 200, bytes: SIZE, sha256: written.sha256 });

    const vcenter = provider.session.client.url.host;
    const device = await provider.openDiskReader(vm, key, { kind: 'device', url: `https://${vcenter}/nfc/x/disk-0.vmdk`, sizeBytes: 0 });
    expect(device).toMatchObject({ reads: 'stream', encoding: 'sniff' });
    expect(device.exactBytes).toBeUndefined();
    expect(device.source.headers.cookie).toMatch(/^vmware_soap_session=/);

    await expect(provider.openDiskReader(vm, key, { kind: 'device', url: 'https://203.0.113.9/nfc/x/disk-0.vmdk' })).rejects.toMatchObject({
      type: ErrorType.DeviceHostNotAllowed,
    });
  });

  it('serves exactly the requested span of a datastore download with Range', async () => {
    const source = await provider.datastoreDiskSource(vm, vm.disks[0]?.key ?? -1);
    expect(source.sizeBytes).toBe(SIZE);
    expect(source.url).toMatch(/\/folder\/.+\?dcPath=DC0&dsName=LocalDS_0$/);
    expect(source.headers.cookie).toMatch(/^vmware_soap_session=/);
    const [start, end] = [1_000_003, 5_242_887]; // inclusive end, odd offsets
    const res = await request(source.url, {
      headers: { ...source.headers, range: `bytes=${start}-${end}` },
      dispatcher: provider.session.client.dispatcher,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(body.length).toBe(end - start + 1);
    expect(body.equals(diskContentRange(SEED, start, end + 1))).toBe(true);

    const whole = await download(provider, source.url, source.headers);
    expect(whole).toEqual({ status: 200, bytes: SIZE, sha256: written.sha256 });
  });

  it('powers a VM off gracefully (falling back to hard power-off) and hard, as govc confirms', async () => {
    for (const graceful of [true, false]) {
      const path = await createVm(uniqueName('vsphere-power'), { on: true });
      try {
        const target = await provider.describeVm(path);
        expect(target.powerState).toBe('poweredOn');
        await provider.powerOff(target.id, { graceful, timeoutMs: 3000 });
        expect((await runGovc(['object.collect', '-s', path, 'runtime.powerState'])).trim()).toBe(
          'poweredOff',
        );
        await provider.powerOff(target.id, { graceful, timeoutMs: 3000 }); // already off: no-op
      } finally {
        await runGovc(['vm.destroy', path]).catch(() => undefined);
      }
    }
  });

  it('propagates a task fault with its type (powering off an already powered-off VM by task)', async () => {
    const path = await createVm(uniqueName('vsphere-task'), { on: false });
    try {
      const target = await provider.describeVm(path);
      const err = await runTask(
        provider.session,
        'PowerOffVM_Task',
        { _this: new MoRef('VirtualMachine', target.id) },
        { timeoutMs: 10_000 },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe(ErrorType.InvalidPowerState);
    } finally {
      await runGovc(['vm.destroy', path]).catch(() => undefined);
    }
  });
});
