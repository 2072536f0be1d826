import { describe, expect, it } from 'vitest';
import { encodeSnapshotSet, parseSnapshotSet, snapshotName, vmRefOf } from './ids.js';

const SUB = '6f1d2c3b-4a59-4e8f-9c0d-1a2b3c4d5e6f';
const base = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute`;

describe('vmRefOf', () => {
  it('reads a VM resource id (any case of the fixed parts), a name in the source group, and group/name', () => {
    expect(vmRefOf(`${base}/virtualMachines/web1`, SUB, undefined)).toEqual({ subscriptionId: SUB, resourceGroup: 'rg1', type: 'virtualMachines', name: 'web1' });
    expect(vmRefOf(`/SUBSCRIPTIONS/${SUB}/resourcegroups/rg1/providers/microsoft.compute/virtualmachines/web1`, SUB, undefined).name).toBe('web1');
    expect(vmRefOf('web1', SUB, 'rg2')).toEqual({ subscriptionId: SUB, resourceGroup: 'rg2', type: 'virtualMachines', name: 'web1' });
    expect(vmRefOf('rg3/web1', SUB, 'rg2').resourceGroup).toBe('rg3');
  });

  it('refuses a name without a group, another subscription, and ids of other resources', () => {
    expect(() => vmRefOf('web1', SUB, undefined)).toThrow(/without its resource group/);
    expect(() => vmRefOf(`/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/web1`, SUB, undefined)).toThrow(/this source reads subscription/);
    expect(() => vmRefOf(`${base}/disks/d1`, SUB, undefined)).toThrow(/not a VM resource id/);
    expect(() => vmRefOf('a b', SUB, 'rg1')).toThrow(/not a VM name/);
  });
});

describe('snapshotName', () => {
  it('is the job name and the disk slot, in the characters Azure allows, at most 80 long', () => {
    expect(snapshotName('hypersdk-export-job1', 'lun3')).toBe('hypersdk-export-job1-lun3');
    expect(snapshotName('hypersdk-export-a/b c', 'os')).toBe('hypersdk-export-a-b-c-os');
    const long = snapshotName(`hypersdk-export-${'x'.repeat(100)}`, 'os');
    expect(long).toHaveLength(80);
    expect(long).toMatch(/^[\w][-\w.]*\w$/);
    expect(snapshotName(`hypersdk-export-${'x'.repeat(100)}`, 'lun1')).not.toBe(long);
  });
});

describe('snapshot sets', () => {
  it('round-trips disk=snapshot pairs and refuses anything else', () => {
    const pairs = [
      { diskId: `${base}/disks/os1`, snapshotId: `${base}/snapshots/s-os` },
      { diskId: `${base}/disks/data1`, snapshotId: `${base}/snapshots/s-lun0` },
    ];
    expect(parseSnapshotSet(encodeSnapshotSet(pairs)).map(({ diskId, snapshotId }) => ({ diskId, snapshotId }))).toEqual(pairs);
    expect(parseSnapshotSet(encodeSnapshotSet(pairs))[1]!.snapshot).toEqual({ subscriptionId: SUB, resourceGroup: 'rg1', type: 'snapshots', name: 's-lun0' });
    for (const bad of ['', 'snap-0123456789abcdef0', `${base}/disks/os1`, `${base}/snapshots/s=${base}/disks/os1`, `${base}/disks/os1=${base}/snapshots/s=x`]) {
      expect(() => parseSnapshotSet(bad), bad).toThrow(/not a snapshot set/);
    }
  });
});
