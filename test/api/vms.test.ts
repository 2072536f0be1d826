// /vms routes against a provider factory (the vSphere provider is tested on its own).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceProvider } from '../../src/core/source-provider.js';
import type { VmDescription } from '../../src/core/vm-description.js';
import { createTestGateway, json, type TestGateway } from './helpers.js';

const vm: VmDescription = {
  id: 'vm-42', name: 'DC0_H0_VM0', path: '/DC0/vm/DC0_H0_VM0', powerState: 'poweredOff', guestId: 'otherGuest',
  guestFullName: 'Other (32-bit)', numCpu: 1, memoryMb: 32, storageBytes: 1048576, provider: 'vsphere',
  instanceUuid: 'i-uuid', biosUuid: 'b-uuid', firmware: 'bios', hasSnapshots: false, datacenter: 'DC0',
  disks: [{ key: 2000, label: 'Hard disk 1', capacityBytes: 1048576, backingFile: '[LocalDS_0] DC0_H0_VM0/disk1.vmdk', datastore: 'LocalDS_0', thin: true, controllerKey: 1000, controllerType: 'lsilogic', unitNumber: 0 }],
  nics: [], cdroms: [],
};

function fakeProvider(): SourceProvider {
  return {
    listVms: () => Promise.resolve([vm]),
    describeVm: (ref: string) =>
      ref === vm.path ? Promise.resolve(vm) : Promise.reject(Object.assign(new Error(`VM ${ref} not found`), { type: 'VmNotFound' })),
    logout: () => Promise.resolve(),
  } as unknown as SourceProvider;
}

let gw: TestGateway;
let logins = 0;
beforeAll(async () => {
  gw = await createTestGateway({
    providerFactory: (profile) => {
      logins++;
      expect(profile.password).toBe('profile-password');
      return Promise.resolve(fakeProvider());
    },
  });
});
afterAll(async () => gw?.close());

describe('/vms', () => {
  it('GET /vms/list maps summaries and reuses the session', async () => {
    const first = (await (await gw.request('/vms/list')).json()) as { vms: unknown[]; total: number };
    await gw.request('/vms/list');
    expect(first.total).toBe(1);
    expect(first.vms[0]).toEqual({
      id: 'vm-42', name: 'DC0_H0_VM0', path: '/DC0/vm/DC0_H0_VM0', power_state: 'poweredOff', guest_os: 'Other (32-bit)',
      guest_id: 'otherGuest', memory_mb: 32, num_cpu: 1, storage_bytes: 1048576,
    });
    expect(logins).toBe(1);
  });

  it('POST /vms/info describes a VM, 404s a missing one, 400s a missing vm_path or unknown profile', async () => {
    const info = (await (await gw.request('/vms/info', json({ vm_path: vm.path }))).json()) as { success: boolean; vm_info: unknown; vm: Record<string, unknown> };
    expect(info.vm).toMatchObject({ name: 'DC0_H0_VM0', firmware: 'bios', disks: [{ key: 2000, capacity_bytes: 1048576 }] });
    // The original's VMInfo, exactly its keys.
    expect(info.success).toBe(true);
    expect(info.vm_info).toEqual({
      name: 'DC0_H0_VM0', path: '/DC0/vm/DC0_H0_VM0', power_state: 'poweredOff', guest_os: 'Other (32-bit)', memory_mb: 32, num_cpu: 1, storage_bytes: 1048576,
    });
    expect(JSON.stringify(info)).not.toContain('profile-password');
    expect((await gw.request('/vms/info', json({ vm_path: '/DC0/vm/missing' }))).status).toBe(404);
    const missing = await gw.request('/vms/info', json({}));
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe('vm_path: is required');
    const profile = await gw.request('/vms/list?profile=nope');
    expect(profile.status).toBe(400);
    expect(((await profile.json()) as { error: string }).error).toMatch(/^profile: unknown vCenter profile/);
  });
});
