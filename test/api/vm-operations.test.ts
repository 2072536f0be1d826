// /vms/shutdown, /vms/poweroff, /vms/remove-cdrom, /vms/info and /vms/list as the
// original's clients call them, against the harness vcsim and Temporal with a real
// export worker. govc, VMware's own CLI, is the judge of what changed on the VM;
// Temporal's history is the judge of what was recorded.
import { Client, Connection } from '@temporalio/client';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type GatewayApp } from '../../src/api/app.js';
import type { HyperConfig } from '../../src/config/types.js';
import { connectVsphere } from '../../src/providers/vsphere/index.js';
import { VM_OPERATION_WORKFLOW_TYPE } from '../../src/core/vm-operation-contract.js';
import { startWorker, testConfig, type RunningWorker } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { decodedHistoryText } from '../harness/history.js';
import { createVm, uniqueName } from '../vsphere/helpers.js';
import { json } from './helpers.js';

const services = inject('services');

interface Gateway {
  config: HyperConfig;
  gateway: GatewayApp;
  client: Client;
  connection: Connection;
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

async function gatewayFor(config: HyperConfig): Promise<Gateway> {
  const connection = await Connection.connect({ address: config.temporal.address! });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const gateway = createApp({ config, temporalClient: client, providerFactory: (p) => connectVsphere(p), startedAt: new Date() });
  return {
    config,
    gateway,
    client,
    connection,
    request: async (path, init) => gateway.app.request(path, init),
    close: async () => {
      await gateway.close();
      await connection.close();
    },
  };
}

const powerState = async (path: string) => (await govc(services, ['object.collect', '-s', path, 'runtime.powerState'])).trim();
const cdroms = async (path: string) =>
  (await govc(services, ['device.ls', '-vm', path]))
    .split('\n')
    .filter((line) => /\bVirtualCdrom\b/.test(line))
    .map((line) => line.split(/\s+/)[0]);

interface OperationBody {
  success: boolean;
  message: string;
  operation_id: string;
  changed: boolean;
  power_state: string;
  removed_cdroms?: string[];
  error?: string;
  error_type?: string;
  field?: string;
}

let gw: Gateway;
let worker: RunningWorker;
beforeAll(async () => {
  const config = testConfig(services);
  worker = await startWorker(config);
  gw = await gatewayFor(config);
});
afterAll(async () => {
  await gw?.close();
  await worker?.stop();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: OperationBody }> {
  const res = await gw.request(path, json(body));
  return { status: res.status, body: (await res.json()) as OperationBody };
}

describe('VM operations run as workflows and change the VM', () => {
  it('shutdown: the guest is shut down (govc sees poweredOff), recorded as workflow vmop-shutdown-<uuid>; again: already off', async () => {
    const vm = await createVm(uniqueName('vmop-shutdown'), { on: true });
    expect(await powerState(vm)).toBe('poweredOn');
    const first = await post('/vms/shutdown', { vm_path: vm, timeout: 60 });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ success: true, changed: true, power_state: 'poweredOff' });
    expect(first.body.message).toMatch(/shut down/);
    expect(first.body.operation_id).toMatch(/^vmop-shutdown-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await powerState(vm)).toBe('poweredOff');

    // Temporal history holds the operation like an export: its type, input and activity.
    const handle = gw.client.workflow.getHandle(first.body.operation_id);
    const description = await handle.describe();
    expect(description.type).toBe(VM_OPERATION_WORKFLOW_TYPE);
    expect(description.status.name).toBe('COMPLETED');
    expect(description.taskQueue).toBe(gw.config.temporal.taskQueue);
    const history = await handle.fetchHistory();
    const activities = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
    expect(activities).toEqual(['vmShutdownGuest']);
    expect(decodedHistoryText(history)).toContain(vm);

    const again = await post('/vms/shutdown', { vm_path: vm });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ success: true, changed: false, power_state: 'poweredOff' });
    expect(again.body.message).toMatch(/already powered off/);
  });

  it('poweroff: hard power-off (govc sees poweredOff); again: success, already off', async () => {
    const vm = await createVm(uniqueName('vmop-poweroff'), { on: true });
    const first = await post('/vms/poweroff', { vm_path: vm });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ success: true, changed: true, power_state: 'poweredOff' });
    expect(first.body.operation_id).toMatch(/^vmop-poweroff-/);
    expect(await powerState(vm)).toBe('poweredOff');
    const again = await post('/vms/poweroff', { vm_path: vm });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ success: true, changed: false });
    expect(again.body.message).toMatch(/already powered off/);
  });

  it('remove-cdrom: every CD/DVD drive goes (govc lists none); again: nothing to remove', async () => {
    const vm = await createVm(uniqueName('vmop-cdrom'), { on: true });
    await govc(services, ['device.cdrom.add', '-vm', vm]);
    await govc(services, ['device.cdrom.add', '-vm', vm]);
    const before = await cdroms(vm);
    expect(before.length).toBeGreaterThanOrEqual(2);
    const first = await post('/vms/remove-cdrom', { vm_path: vm });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ success: true, changed: true });
    expect(first.body.removed_cdroms).toHaveLength(before.length);
    expect(first.body.operation_id).toMatch(/^vmop-remove-cdrom-/);
    expect(await cdroms(vm)).toEqual([]);
    // The rest of the hardware is untouched.
    expect(await powerState(vm)).toBe('poweredOn');
    const again = await post('/vms/remove-cdrom', { vm_path: vm });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ success: true, changed: false, removed_cdroms: [] });
  });

  it("takes the Python SDK's body {vcenter, vm_path}; the password stays out of the workflow history", async () => {
    const vm = await createVm(uniqueName('vmop-sdk'), { on: true });
    const { vcsim } = services;
    const res = await post('/vms/poweroff', { vcenter: { server: vcsim.host, username: vcsim.username, password: vcsim.password, insecure: true }, vm_path: vm });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(await powerState(vm)).toBe('poweredOff');
    const history = await gw.client.workflow.getHandle(res.body.operation_id).fetchHistory();
    expect(decodedHistoryText(history)).not.toContain(vcsim.password);
  });

  it('shutdown of a suspended VM: 502, vCenter refused, pointing at poweroff; the VM stays suspended', async () => {
    const vm = await createVm(uniqueName('vmop-suspended'), { on: true });
    await govc(services, ['vm.power', '-suspend', vm]);
    const res = await post('/vms/shutdown', { vm_path: vm, timeout: 30 });
    expect(res.status).toBe(502);
    expect(res.body.error_type).toBe('InvalidPowerState');
    expect(res.body.error).toMatch(/is suspended: only a powered-on VM can be shut down; power it off \(poweroff\) instead$/);
    expect(await powerState(vm)).toBe('suspended');
    // Not retried: one attempt in history.
    const history = await gw.client.workflow.getHandle(res.body.operation_id).fetchHistory();
    expect((history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);
  });

  it('answers 404 for a VM that does not exist, with the failed operation in history', async () => {
    const res = await post('/vms/poweroff', { vm_path: '/DC0/vm/no-such-vm-anywhere' });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/^vm_path: /);
    expect(res.body.error_type).toBe('VmNotFound');
    const description = await gw.client.workflow.getHandle(res.body.operation_id).describe();
    expect(description.status.name).toBe('FAILED');
  });

  it('answers 400 naming the field for bad input, before anything runs', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{}, 'vm_path', /^vm_path: is required$/],
      [{ vm_path: '' }, 'vm_path', /^vm_path: must not be empty$/],
      [{ vm_path: '/DC0/vm/x', timeout: -1 }, 'timeout', /^timeout: must not be negative$/],
      [{ vm_path: '/DC0/vm/x', timeout: 1.5 }, 'timeout', /^timeout: /],
      [{ vm_path: '/DC0/vm/x', timeout: '30' }, 'timeout', /^timeout: /],
      [{ vm_path: '/DC0/vm/x', profile: 'nope' }, 'profile', /^profile: unknown vCenter profile "nope"/],
      [{ vm_path: '/DC0/vm/x', vcenter: { server: 'elsewhere.example', username: 'u', password: 'p' } }, 'vcenter.server', /^vcenter\.server: .*not in this worker's vsphere\.allowed_hosts/],
      [{ vm_path: '/DC0/vm/x', vcenter: { server: services.vcsim.host } }, 'vcenter.username', /^vcenter\.username: is required$/],
    ];
    for (const [body, field, message] of cases) {
      for (const op of ['shutdown', 'poweroff', 'remove-cdrom']) {
        const res = await post(`/vms/${op}`, body);
        expect(res.status, `${op} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.field).toBe(field);
        expect(res.body.error).toMatch(message);
      }
    }
  });

  it('answers 503 when no worker polls the task queue, instead of waiting out the timeout', async () => {
    const idle = await gatewayFor(testConfig(services));
    try {
      const started = Date.now();
      const res = await idle.request('/vms/poweroff', json({ vm_path: '/DC0/vm/DC0_H0_VM0' }));
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toMatch(/no worker polls task queue/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await idle.close();
    }
  });
});

describe('/vms/info and /vms/list in the original shapes', () => {
  const originalKeys = ['name', 'path', 'power_state', 'guest_os', 'memory_mb', 'num_cpu', 'storage_bytes'];

  it('/vms/info answers {success, vm_info (the original VMInfo keys), vm (ours)}, also for the SDK body', async () => {
    const vm = await createVm(uniqueName('vmop-info'), { on: true });
    const { vcsim } = services;
    for (const body of [{ vm_path: vm }, { vcenter: { server: vcsim.host, username: vcsim.username, password: vcsim.password, insecure: true }, vm_path: vm }]) {
      const res = await gw.request('/vms/info', json(body));
      expect(res.status).toBe(200);
      const info = (await res.json()) as { success: boolean; vm_info: Record<string, unknown>; vm: Record<string, unknown>; timestamp: string };
      expect(info.success).toBe(true);
      expect(Object.keys(info.vm_info)).toEqual(originalKeys);
      const name = vm.split('/').pop();
      expect(info.vm_info).toMatchObject({ name, path: vm, power_state: 'poweredOn' });
      // govc's view of the same VM.
      const [memory, cpus] = (await govc(services, ['object.collect', '-s', vm, 'config.hardware.memoryMB', 'config.hardware.numCPU'])).trim().split('\n');
      expect(info.vm_info.memory_mb).toBe(Number(memory));
      expect(info.vm_info.num_cpu).toBe(Number(cpus));
      expect(info.vm).toMatchObject({ name, path: vm });
      expect(info.vm.disks).toBeInstanceOf(Array);
      expect(Number.isNaN(Date.parse(info.timestamp))).toBe(false);
    }
  });

  it('/vms/list answers GET and POST (the SDK posts its vCenter config as the body); items carry the original keys', async () => {
    const { vcsim } = services;
    const viaGet = (await (await gw.request('/vms/list')).json()) as { vms: Record<string, unknown>[]; total: number };
    const viaPost = await gw.request('/vms/list', json({ server: vcsim.host, username: vcsim.username, password: vcsim.password, insecure: true }));
    expect(viaPost.status).toBe(200);
    const posted = (await viaPost.json()) as { vms: Record<string, unknown>[]; total: number };
    const nested = (await (await gw.request('/vms/list', json({ vcenter: { server: vcsim.host, username: vcsim.username, password: vcsim.password, insecure: true } }))).json()) as { total: number };
    const empty = (await (await gw.request('/vms/list', { method: 'POST' })).json()) as { total: number };
    expect(viaGet.total).toBeGreaterThan(0);
    for (const list of [posted, nested, empty]) expect(Math.abs(list.total - viaGet.total)).toBeLessThanOrEqual(4); // other files add VMs meanwhile
    for (const item of [...viaGet.vms, ...posted.vms]) expect(Object.keys(item)).toEqual(expect.arrayContaining(originalKeys));
    const refused = await gw.request('/vms/list', json({ server: 'elsewhere.example', username: 'u', password: 'p' }));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { field: string }).field).toBe('vcenter.server');
  });
});

describe('an operation that does not finish in time', () => {
  // A "vCenter" that accepts connections and never answers: the worker's login hangs.
  let blackHole: Server;
  const sockets = new Set<Socket>();
  let slow: Gateway;
  let slowWorker: RunningWorker;
  beforeAll(async () => {
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address() as { port: number };
    const config = testConfig(services, { vcsimHost: `127.0.0.1:${address.port}` });
    slowWorker = await startWorker(config);
    slow = await gatewayFor(config);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    blackHole?.close();
    await slow?.close();
    await slowWorker?.stop();
  });

  it('answers 504 with the operation id once its timeout (plus the workflow slack) has passed', async () => {
    const started = Date.now();
    const res = await slow.request('/vms/poweroff', json({ vm_path: '/DC0/vm/DC0_H0_VM0', timeout: 1 }));
    const body = (await res.json()) as OperationBody;
    expect(res.status, JSON.stringify(body)).toBe(504);
    expect(body.error).toMatch(/^poweroff of \/DC0\/vm\/DC0_H0_VM0 did not finish within 1 s/);
    expect(body.operation_id).toMatch(/^vmop-poweroff-/);
    expect(Date.now() - started).toBeLessThan(60_000);
    // Ended by then (timed out, or out of attempts): it can no longer change the VM later.
    const description = await slow.client.workflow.getHandle(body.operation_id).describe();
    expect(['TIMED_OUT', 'FAILED']).toContain(description.status.name);
  });
});
