// hyperctl vm and hyperctl list as the original's users type them, run as a
// subprocess against a real gateway and worker on the harness vcsim and Temporal.
// govc judges what changed on the VMs.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../src/api/gateway.js';
import { connectVsphere } from '../../src/providers/vsphere/index.js';
import { startWorker, testConfig, type RunningWorker } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { createVm, uniqueName } from '../vsphere/helpers.js';
import { runBin, type BinRun } from '../harness/run-bin.js';

const services = inject('services');

function hyperctl(args: string[]): Promise<BinRun> {
  return runBin('hyperctl', [...args, '-daemon', gateway.url], { ...process.env, NO_COLOR: '' }, 90_000);
}

const powerState = async (path: string) => (await govc(services, ['object.collect', '-s', path, 'runtime.powerState'])).trim();

let gateway: RunningGateway;
let connection: Connection;
let worker: RunningWorker;
beforeAll(async () => {
  const config = testConfig(services);
  worker = await startWorker(config);
  connection = await Connection.connect({ address: config.temporal.address! });
  gateway = await startGateway(config, {
    temporalClient: new Client({ connection, namespace: config.temporal.namespace }),
    providerFactory: (p) => connectVsphere(p),
    startedAt: new Date(),
  });
});
afterAll(async () => {
  await gateway?.stop();
  await connection?.close();
  await worker?.stop();
});

describe('hyperctl vm', () => {
  it('-op poweroff / shutdown / remove-cdrom change the VM and print the message and operation id', async () => {
    const vm = await createVm(uniqueName('cli-vmop'), { on: true });
    await govc(services, ['device.cdrom.add', '-vm', vm]);

    const removed = await hyperctl(['vm', '-op', 'remove-cdrom', '-path', vm]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/^removed \d+ CD\/DVD drive\(s\) from VM /);
    expect(removed.stdout).toMatch(/Operation ID: vmop-remove-cdrom-/);
    expect(await govc(services, ['device.ls', '-vm', vm])).not.toMatch(/VirtualCdrom/);

    const shutdown = await hyperctl(['vm', '-op', 'shutdown', '-path', vm, '-timeout', '30']);
    expect(shutdown.code, shutdown.stderr).toBe(0);
    expect(shutdown.stdout).toMatch(/was shut down by its guest OS/);
    expect(await powerState(vm)).toBe('poweredOff');

    await govc(services, ['vm.power', '-on', vm]);
    const poweroff = await hyperctl(['vm', '--op=poweroff', '--path', vm]);
    expect(poweroff.code, poweroff.stderr).toBe(0);
    expect(poweroff.stdout).toMatch(/was powered off\n {2}Operation ID: vmop-poweroff-/);
    expect(await powerState(vm)).toBe('poweredOff');
  });

  it('-op info prints the original VMInfo fields; -json prints the answer', async () => {
    const vm = await createVm(uniqueName('cli-info'), { on: true });
    const text = await hyperctl(['vm', '-op', 'info', '-path', vm]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`Path:         ${vm}`);
    expect(text.stdout).toContain('Power State:  poweredOn');
    const asJson = await hyperctl(['vm', '-op', 'info', '-path', vm, '-json']);
    expect(asJson.code).toBe(0);
    const parsed = JSON.parse(asJson.stdout) as { success: boolean; vm_info: Record<string, unknown> };
    expect(parsed.success).toBe(true);
    expect(Object.keys(parsed.vm_info)).toEqual(['name', 'path', 'power_state', 'guest_os', 'memory_mb', 'num_cpu', 'storage_bytes']);
  });

  it('usage errors exit 2 naming the flag; a VM that does not exist exits 1 saying so', async () => {
    const cases: [string[], RegExp][] = [
      [['vm', '-path', '/DC0/vm/x'], /-op is required: one of shutdown, poweroff, remove-cdrom, info/],
      [['vm', '-op', 'reboot', '-path', '/DC0/vm/x'], /-op reboot: unknown operation; use one of shutdown, poweroff, remove-cdrom, info/],
      [['vm', '-op', 'poweroff'], /-path is required/],
      [['vm', '-op', 'shutdown', '-path', '/DC0/vm/x', '-timeout', 'soon'], /-timeout soon: must be whole seconds from 1 to 3600/],
    ];
    for (const [args, message] of cases) {
      const run = await hyperctl(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    const missing = await hyperctl(['vm', '-op', 'poweroff', '-path', '/DC0/vm/no-such-vm-cli']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^hyperctl: vm_path: .*no-such-vm-cli/);
  });
});

describe('hyperctl list', () => {
  it('-filter matches names case-insensitively; -json prints {vms, total, timestamp} with the original keys', async () => {
    const prefix = uniqueName('CliList');
    await createVm(`${prefix}-a`, { on: false });
    await createVm(`${prefix}-b`, { on: true });
    const asJson = await hyperctl(['list', '-json', '-filter', prefix.toLowerCase()]);
    expect(asJson.code, asJson.stderr).toBe(0);
    const parsed = JSON.parse(asJson.stdout) as { vms: Record<string, unknown>[]; total: number; timestamp: string };
    expect(parsed.total).toBe(2);
    expect(parsed.vms.map((v) => v.name).sort()).toEqual([`${prefix}-a`, `${prefix}-b`]);
    for (const vm of parsed.vms) expect(Object.keys(vm)).toEqual(['name', 'path', 'power_state', 'guest_os', 'memory_mb', 'num_cpu', 'storage_bytes']);
    expect(Number.isNaN(Date.parse(parsed.timestamp))).toBe(false);

    const table = await hyperctl(['list', '-filter', prefix.toUpperCase()]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME +POWER +CPU +MEMORY +STORAGE +GUEST OS +PATH\n/);
    expect(table.stdout).toContain(`${prefix}-a`);
    expect(table.stdout).toMatch(/2 VM\(s\)\n$/);

    const none = await hyperctl(['list', '-filter', 'no-vm-is-called-this']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('No VMs match "no-vm-is-called-this"\n');
    const noneJson = await hyperctl(['list', '-json', '-filter', 'no-vm-is-called-this']);
    expect(JSON.parse(noneJson.stdout)).toMatchObject({ vms: [], total: 0 });
  });
});
