import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { parseManifest } from '../../src/export/ovf.js';
import type { ExportProgress } from '../../src/core/export-contract.js';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { decodedHistoryText } from '../harness/history.js';
import { prepareVmDisks, sha256File, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
const temporal = useWorkerAndClient(config);


describe('export of a powered-on VM with snapshot mode to a local directory', () => {
  it('writes the OVF, a verifying manifest and disks byte-identical to the source; govc can import it', async () => {
    const vm = 'DC0_H0_VM0';
    const sourceHashes = await prepareVmDisks(services, vm, 2, 256 * MiB, 'local');
    const jobId = `local-${randomBytes(4).toString('hex')}`;
    const outDir = join(config.output.allowedRoots[0]!, jobId);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(jobId, `/DC0/vm/${vm}`, { kind: 'local', directory: outDir }, { method: 'ovf', options: { snapshot: true } }),
    );
    const result = await handle.result();

    expect(result.method).toBe('ovf'); // ExportSnapshot over an NFC lease
    expect(result.vmName).toBe(vm);
    const names = readdirSync(outDir).sort();
    expect(names).toEqual([`${vm}-disk1.vmdk`, `${vm}-disk2.vmdk`, `${vm}.mf`, `${vm}.ovf`]);

    // Every disk equals its source, and the manifest verifies every file.
    const diskFiles = result.files.filter((f) => f.name.endsWith('.vmdk'));
    expect(diskFiles.map((f) => f.sha256).sort()).toEqual([...sourceHashes.values()].sort());
    const manifest = parseManifest(readFileSync(join(outDir, `${vm}.mf`), 'utf8'));
    expect([...manifest.keys()].sort()).toEqual([`${vm}-disk1.vmdk`, `${vm}-disk2.vmdk`, `${vm}.ovf`]);
    for (const [name, sha] of manifest) expect(await sha256File(join(outDir, name)), name).toBe(sha);

    // The snapshot we made is gone, and the progress query says completed.
    const snapshots = await govc(services, ['snapshot.tree', '-vm', vm]);
    expect(snapshots).not.toContain(`hypersdk-export-${jobId}`);
    const progress = await handle.query<ExportProgress>('progress');
    expect(progress.phase).toBe('completed');
    expect(progress.disks.every((d) => d.state === 'done' && d.bytesDone === 256 * MiB)).toBe(true);

    // An independent client accepts the package.
    const imported = `imported-${jobId}`;
    await govc(services, ['import.ovf', '-name', imported, '-ds', 'LocalDS_0', '-pool', '/DC0/host/DC0_C0/Resources', result.ovfPath], 180_000);
    type VmInfo = { virtualMachines: { config: { hardware: { device: { backing?: { fileName?: string }; macAddress?: string }[] } } }[] };
    const devicesOf = async (name: string) => (JSON.parse(await govc(services, ['vm.info', '-json', name])) as VmInfo).virtualMachines[0]!.config.hardware.device;
    const importedDevices = await devicesOf(imported);
    const importedDisks = importedDevices.filter((d) => d.backing?.fileName?.endsWith('.vmdk'));
    expect(importedDisks).toHaveLength(2);
    // The OVF carries each NIC's MAC as govc reads it from the source (rasd:Address of
    // the ethernet items), and an importer takes the descriptor with it. (vcsim's import
    // gives the new NIC a MAC of its own, so the imported VM cannot judge the value.)
    const sourceMacs = (await devicesOf(vm)).flatMap((d) => (d.macAddress ? [d.macAddress] : []));
    expect(sourceMacs.length).toBeGreaterThan(0);
    const ovfItems = readFileSync(result.ovfPath, 'utf8').split('<Item>').slice(1);
    const ovfMacs = ovfItems.filter((i) => i.includes('<rasd:ResourceType>10</rasd:ResourceType>')).map((i) => /<rasd:Address>([^<]*)<\/rasd:Address>/.exec(i)?.[1]);
    expect(ovfMacs).toEqual(sourceMacs);

    // The vCenter password is nowhere in the workflow history.
    const history = await handle.fetchHistory();
    const text = decodedHistoryText(history);
    expect(text.includes(`"vmPath":"/DC0/vm/${vm}"`), 'payloads decoded').toBe(true);
    expect(text.includes(services.vcsim.password), 'password in history').toBe(false);
  });

  it('fails a powered-on VM without snapshot or power_off with VmPoweredOn, leaving nothing behind', async () => {
    const jobId = `poweredon-${randomBytes(4).toString('hex')}`;
    const outDir = join(config.output.allowedRoots[0]!, jobId);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(jobId, '/DC0/vm/DC0_C0_RP0_VM0', { kind: 'local', directory: outDir }),
    );
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    // WorkflowFailedError -> ApplicationFailure(VmPoweredOn) -> ActivityFailure -> ApplicationFailure(VmPoweredOn)
    const chain: { name?: string; type?: string; message?: string }[] = [];
    type Link = { name?: string; type?: string; message?: string; cause?: unknown };
    for (let e = err as Link | undefined; e; e = e.cause as Link | undefined) chain.push(e);
    expect(chain.map((e) => e.name)).toEqual(['WorkflowFailedError', 'ApplicationFailure', 'ActivityFailure', 'ApplicationFailure']);
    expect(chain[1]!.type).toBe('VmPoweredOn');
    expect(chain[3]!.type).toBe('VmPoweredOn');
    expect(chain[1]!.message).toMatch(/powered ?on.*snapshot: true.*power_off: true/i);
    const history = await handle.fetchHistory();
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts.every((a) => a === 1)).toBe(true); // non-retryable: never retried
  });
});
