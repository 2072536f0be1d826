import { describe, expect, it } from 'vitest';
import type { VmDescription } from '../core/vm-description.js';
import { diskIdentity, provablySame } from './disk-identity.js';

const vm = {
  id: 'vm-1',
  instanceUuid: 'uuid-1',
  disks: [{ key: 2000, backingFile: '[ds] vm/vm.vmdk', capacityBytes: 1024 }],
} as unknown as VmDescription;
const target = { kind: 'vm', vmId: 'vm-1' } as const;

describe('disk identity', () => {
  it('is the same for the same VM, disk, target and validators', () => {
    const v = { lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT', etag: '"1"' };
    expect(provablySame(diskIdentity(vm, 2000, target, v), diskIdentity(vm, 2000, target, { ...v }))).toBe(true);
  });

  it('differs when the backing file changed', () => {
    const a = diskIdentity(vm, 2000, target, { lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT' });
    const b = diskIdentity(vm, 2000, target, { lastModified: 'Tue, 01 Dec 2026 10:00:01 GMT' });
    expect(provablySame(a, b)).toBe(false);
  });

  it('proves nothing without validators or for a snapshot target', () => {
    expect(provablySame(diskIdentity(vm, 2000, target, undefined), diskIdentity(vm, 2000, target, undefined))).toBe(false);
    const snap = { kind: 'snapshot', snapshotId: 'snap-1' } as const;
    const v = { etag: '"1"' };
    expect(provablySame(diskIdentity(vm, 2000, snap, v), diskIdentity(vm, 2000, snap, v))).toBe(false);
  });

  it('differs for another disk of the same VM', () => {
    const v = { etag: '"1"' };
    expect(provablySame(diskIdentity(vm, 2000, target, v), diskIdentity(vm, 2001, target, v))).toBe(false);
  });
});
