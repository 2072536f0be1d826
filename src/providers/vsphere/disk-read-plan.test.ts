// Method auto, per disk, from described backings and a faked datastore HEAD
// (vcsim keeps a snapshotted disk's backing without a parent and never answers
// /folder with 403, so these cases are decided here).
import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../core/errors.js';
import type { DiskDescription, VmDescription } from '../../core/vm-description.js';
import type { DiskReader } from '../../core/source-provider.js';
import { chooseDiskRead, probeDatastore, RESUMABLE_REASON } from './disk-read-plan.js';
import { failure } from './faults.js';
import { readDevices } from './vm.js';
import { xmlParser } from './xml.js';

const flat: DiskDescription = {
  key: 2000,
  label: 'Hard disk 1',
  capacityBytes: 1 << 20,
  backingFile: '[ds] vm/vm.vmdk',
  datastore: 'ds',
  thin: false,
  controllerKey: 1000,
  controllerType: 'lsilogic',
  unitNumber: 0,
  backingType: 'VirtualDiskFlatVer2BackingInfo',
};
const vmWith = (disk: DiskDescription, hasSnapshots = false) => ({ name: 'vm', hasSnapshots, disks: [disk] }) as unknown as VmDescription;

describe('method auto, per disk', () => {
  it('reads a flat extent without a parent from the datastore: resumable', () => {
    expect(chooseDiskRead(vmWith(flat), flat, { kind: 'ok' })).toEqual({ diskKey: 2000, via: 'file', reason: RESUMABLE_REASON });
  });

  it('streams through NFC when the VM already had snapshots', () => {
    const m = chooseDiskRead(vmWith(flat, true), flat, undefined);
    expect(m.via).toBe('session');
    expect(m.reason).toMatch(/^stream: restarts from zero if interrupted, because the VM already had snapshots/);
  });

  it('streams through NFC when the backing has a parent', () => {
    const child = { ...flat, backingFile: '[ds] vm/vm-000001.vmdk', backingParent: '[ds] vm/vm.vmdk' };
    const m = chooseDiskRead(vmWith(child), child, { kind: 'ok' });
    expect(m.via).toBe('session');
    expect(m.reason).toContain('has a parent ([ds] vm/vm.vmdk)');
  });

  it('streams through NFC when the backing is not a flat extent', () => {
    const sparse = { ...flat, backingType: 'VirtualDiskSparseVer2BackingInfo' };
    const m = chooseDiskRead(vmWith(sparse), sparse, { kind: 'ok' });
    expect(m.via).toBe('session');
    expect(m.reason).toContain('not a flat extent (VirtualDiskSparseVer2BackingInfo)');
  });

  it('falls back to NFC with the reason when the datastore HEAD answers 403 or 404', () => {
    const refused = chooseDiskRead(vmWith(flat), flat, { kind: 'refused', status: 403 });
    expect(refused.via).toBe('session');
    expect(refused.reason).toContain('refused to serve the disk\'s file [ds] vm/vm.vmdk (HTTP 403)');
    const absent = chooseDiskRead(vmWith(flat), flat, { kind: 'absent' });
    expect(absent.via).toBe('session');
    expect(absent.reason).toContain('HTTP 404');
  });
});

describe('the datastore probe', () => {
  const provider = (err?: Error) => ({
    openDiskReader: (): Promise<DiskReader> =>
      err ? Promise.reject(err) : Promise.resolve({ source: { url: 'https://x/folder/f', headers: {} }, reads: 'ranged', encoding: 'raw' }),
  });
  const vm = vmWith(flat);

  it('reads the provider\'s answers: served, refused (401/403), absent (404)', async () => {
    await expect(probeDatastore(provider(), vm, 2000)).resolves.toEqual({ kind: 'ok' });
    const refused = failure(ErrorType.AuthenticationFailed, 'datastore access to /folder/vm/vm-flat.vmdk refused (403)', false);
    await expect(probeDatastore(provider(refused), vm, 2000)).resolves.toEqual({ kind: 'refused', status: 403 });
    const absent = failure(ErrorType.SoapFault, 'disk file [ds] vm/vm.vmdk of VM vm is not on its datastore', false);
    await expect(probeDatastore(provider(absent), vm, 2000)).resolves.toEqual({ kind: 'absent' });
  });

  it('throws anything else, so the activity retries instead of settling on the stream', async () => {
    const flaky = failure(ErrorType.SoapFault, 'HEAD /folder/vm/vm-flat.vmdk: HTTP 503', false);
    await expect(probeDatastore(provider(flaky), vm, 2000)).rejects.toThrow(/503/);
  });
});

describe('the described backing', () => {
  it('carries the backing type and its parent file', () => {
    const devices = (
      xmlParser.parse(
        '<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><val xsi:type="ArrayOfVirtualDevice">' +
          '<VirtualDevice xsi:type="VirtualDisk"><key>2000</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds] vm/vm-000001.vmdk</fileName>' +
          '<parent xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds] vm/vm.vmdk</fileName></parent></backing>' +
          '<controllerKey>1000</controllerKey><unitNumber>0</unitNumber><capacityInKB>1</capacityInKB></VirtualDevice>' +
          '</val></r>',
      ) as { r: { val: unknown } }
    ).r.val;
    const [disk] = readDevices(devices).disks;
    expect(disk?.backingType).toBe('VirtualDiskFlatVer2BackingInfo');
    expect(disk?.backingParent).toBe('[ds] vm/vm.vmdk');
  });
});
