// Drop-in judge for the VM routes, with the bodies the original Python SDK sends
// (list_vms posts the vCenter fields, get_vm_info / shutdown_vm wrap them in
// "vcenter"), every answer checked against the original's VMInfo and
// VMOperationResponse, and every effect judged by govc, VMware's own client.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestVm } from '../export/helpers.js';
import { startDaemon, type Daemon } from '../e2e/daemon.js';
import { govc } from '../harness/govc.js';
import { api } from './helpers.js';
import { expectShape, vmInfoResponse, vmListResponse, vmOperationResponse } from './original-schemas.js';

const services = inject('services');
const MiB = 1024 * 1024;
const hex = () => randomBytes(3).toString('hex');
let daemon: Daemon;

beforeAll(async () => {
  daemon = await startDaemon(services);
});
afterAll(async () => {
  await daemon?.stop();
});

/** The vcenter_config dict a Python SDK user passes. */
const vcenterConfig = () => ({
  server: services.vcsim.host,
  username: services.vcsim.username,
  password: services.vcsim.password,
  insecure: true,
});

async function powerState(vmPath: string): Promise<string> {
  return (await govc(services, ['object.collect', '-s', vmPath, 'runtime.powerState'])).trim();
}

async function cdromCount(vmName: string): Promise<number> {
  const out = await govc(services, ['device.ls', '-vm', vmName]);
  return out.split('\n').filter((line) => /^cdrom-/.test(line)).length;
}

describe('VM routes in the original shapes', () => {
  it('lists VMs with GET and with the Python SDK POST, the same VMs either way', async () => {
    const name = `list-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: false });

    const get = await api(daemon.url, 'GET', '/vms/list');
    expect(get.status, get.text).toBe(200);
    const listed = expectShape(vmListResponse, get.body, 'GET /vms/list');
    const mine = listed.vms.find((v) => v.path === vm.path);
    expect(mine, `${vm.path} in ${get.text.slice(0, 500)}`).toBeDefined();
    expect(mine!.name).toBe(name);
    expect(mine!.power_state).toBe(await powerState(vm.path));

    const post = await api(daemon.url, 'POST', '/vms/list', vcenterConfig());
    expect(post.status, post.text).toBe(200);
    const posted = expectShape(vmListResponse, post.body, 'POST /vms/list');
    // Other test files create and destroy VMs in the same vcsim meanwhile: the POST must
    // list every VM both GETs around it saw, and nothing that neither saw.
    const after = expectShape(vmListResponse, (await api(daemon.url, 'GET', '/vms/list')).body, 'GET /vms/list');
    const before = new Set(listed.vms.map((v) => v.path));
    const later = new Set(after.vms.map((v) => v.path));
    const postedPaths = new Set(posted.vms.map((v) => v.path));
    expect([...before].filter((p) => later.has(p) && !postedPaths.has(p))).toEqual([]);
    expect([...postedPaths].filter((p) => !before.has(p) && !later.has(p))).toEqual([]);
    expect(postedPaths.has(vm.path)).toBe(true);
    expect(post.text).not.toContain(services.vcsim.password);
  });

  it('describes a VM as the original VMInfo (and keeps ours beside it)', async () => {
    const name = `info-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: true });
    const res = await api(daemon.url, 'POST', '/vms/info', { vcenter: vcenterConfig(), vm_path: vm.path });
    expect(res.status, res.text).toBe(200);
    const info = expectShape(vmInfoResponse, res.body, 'POST /vms/info').vm_info;
    expect(info.name).toBe(name);
    expect(info.path).toBe(vm.path);
    expect(info.power_state).toBe('poweredOn');
    expect(info.memory_mb).toBe(256);
    expect(info.num_cpu).toBe(1);
    expect(info.storage_bytes).toBe(16 * MiB);
    expect(typeof (res.body as Record<string, unknown>).vm, 'our own view stays').toBe('object');
    expect(res.text).not.toContain(services.vcsim.password);
  });

  it('powers a VM off', async () => {
    const name = `off-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: true });
    expect(await powerState(vm.path)).toBe('poweredOn');
    const res = await api(daemon.url, 'POST', '/vms/poweroff', { vm_path: vm.path });
    expect(res.status, res.text).toBe(200);
    const answer = expectShape(vmOperationResponse, res.body, 'POST /vms/poweroff');
    expect(answer.success).toBe(true);
    expect(await powerState(vm.path)).toBe('poweredOff');
  });

  it('shuts a VM down the way shutdown_vm asks', async () => {
    const name = `shutdown-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: true });
    const res = await api(daemon.url, 'POST', '/vms/shutdown', {
      vcenter: vcenterConfig(),
      vm_path: vm.path,
      timeout: 60,
    });
    expect(res.status, res.text).toBe(200);
    const answer = expectShape(vmOperationResponse, res.body, 'POST /vms/shutdown');
    expect(answer.success).toBe(true);
    expect(await powerState(vm.path)).toBe('poweredOff');
  });

  it('removes CD/DVD drives', async () => {
    const name = `cdrom-${hex()}`;
    await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: false });
    await govc(services, ['device.cdrom.add', '-vm', name]);
    expect(await cdromCount(name)).toBeGreaterThan(0);
    const res = await api(daemon.url, 'POST', '/vms/remove-cdrom', { vm_path: `/DC0/vm/${name}` });
    expect(res.status, res.text).toBe(200);
    const answer = expectShape(vmOperationResponse, res.body, 'POST /vms/remove-cdrom');
    expect(answer.success).toBe(true);
    expect(await cdromCount(name)).toBe(0);
  });

  it('answers 404 for a VM that does not exist and 400 naming vm_path when it is missing', async () => {
    for (const op of ['info', 'poweroff', 'shutdown', 'remove-cdrom']) {
      const absent = `no-such-vm-${hex()}`;
      const missing = await api(daemon.url, 'POST', `/vms/${op}`, { vm_path: `/DC0/vm/${absent}` });
      expect(missing.status, `${op}: ${missing.text}`).toBe(404);
      // The VM's 404, not a missing route's: it names the VM.
      expect(missing.text, op).toContain(absent);
      const bad = await api(daemon.url, 'POST', `/vms/${op}`, {});
      expect(bad.status, `${op}: ${bad.text}`).toBe(400);
      expect(bad.text).toContain('vm_path');
    }
  });
});
