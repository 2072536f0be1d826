// hyperexport with -provider azure, run in-process against the real gateway app
// served on loopback (its Temporal client records the workflows started and
// completes them at once): the flags become an Azure job; what an Azure export
// cannot do is a usage error before anything is sent.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportResultOf, unitGateway, type UnitGateway } from '../api/test-support.js';
import type { ExportWorkflowInput } from '../core/export-contract.js';
import { runHyperexport } from './hyperexport.js';
import type { CliIo } from './io.js';

const SUB = '0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10';
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachines/web-01`;

let gw: UnitGateway;
let daemon: string;

beforeAll(async () => {
  gw = await unitGateway({ env: {}, autoComplete: (input) => exportResultOf(input) });
  daemon = await gw.listen();
});
afterAll(async () => gw?.close());

async function hyperexport(args: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env };
  const code = await runHyperexport(args, { io, interactive: false, onInterrupt: () => () => undefined, columns: 100 });
  return { code, out, err };
}

function inputsSince(before: number): ExportWorkflowInput[] {
  return gw.started.slice(before).map((s) => (s.options.args as ExportWorkflowInput[])[0]!);
}

describe('hyperexport -provider azure', () => {
  it('exports a VM by resource id through the daemon, qcow2 by default', async () => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'azure', '-vm', VM_ID, '-json', '-interval', '0.1']);
    expect(r.code, r.err).toBe(0);
    expect(inputsSince(before)).toEqual([
      expect.objectContaining({ vmPath: VM_ID, format: 'qcow2', method: 'auto', source: { provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-prod' } }) as unknown,
    ]);
    const report = JSON.parse(r.out) as { exports: { vm_path: string; status: string }[] };
    expect(report.exports).toEqual([expect.objectContaining({ vm_path: VM_ID, status: 'completed' }) as unknown]);
  });

  it('sends -keep-snapshots as options.keepSnapshots', async () => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'azure', '-vm', VM_ID, '-keep-snapshots', '-quiet', '-interval', '0.1']);
    expect(r.code, r.err).toBe(0);
    expect(inputsSince(before)).toEqual([expect.objectContaining({ vmPath: VM_ID, options: expect.objectContaining({ keepSnapshots: true }) as unknown }) as unknown]);
  });

  it('exports a VM by name with -resource-group, the subscription from AZURE_SUBSCRIPTION_ID here, and -format ova', async () => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, '-provider', 'azure', '-vm', 'db-7', '-resource-group', 'rg-db', '-format', 'ova', '-quiet', '-interval', '0.1'], { AZURE_SUBSCRIPTION_ID: SUB });
    expect(r.code, r.err).toBe(0);
    expect(inputsSince(before)).toEqual([
      expect.objectContaining({ vmPath: 'db-7', format: 'ova', diskImage: 'qcow2', source: { provider: 'azure', subscriptionId: SUB, resourceGroup: 'rg-db' } }) as unknown,
    ]);
  });

  it('exports here when no daemon answers; a VM name with no subscription to read is refused naming -subscription (exit 2) before contacting anything', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise<void>((r) => server.close(() => r()));
    const r = await hyperexport(['-provider', 'azure', '-vm', 'db-7', '-resource-group', 'rg-db'], { HYPERVISOR_URL: `http://127.0.0.1:${port}` });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('exporting here (standalone)');
    expect(r.err).toContain("hyperexport: -subscription: is required for provider azure with a VM name: give -subscription, a VM resource id as -vm, or set");
  });

  it.each([
    [['-provider', 'azure', '-vm', VM_ID, '-method', 'datastore'], 'hyperexport: -method datastore is a vSphere export method; an Azure export always reads the pages of managed-disk snapshots'],
    [['-provider', 'azure', '-vm', VM_ID, '-profile', 'vc1'], "hyperexport: -profile names a vCenter profile; an Azure export uses the daemon's Azure credentials"],
    [['-provider', 'azure', '-vm', 'db-7', '-subscription', 'prod'], 'hyperexport: -subscription "prod" is not a subscription id'],
    [['-vm', '/DC0/vm/a', '-subscription', SUB], 'hyperexport: -subscription is for -provider azure: add -provider azure'],
  ])('%j is a usage error (exit 2) sending nothing', async (args, expected) => {
    const before = gw.started.length;
    const r = await hyperexport(['-daemon', daemon, ...args]);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(expected);
    expect(gw.started.length).toBe(before);
  });
});
