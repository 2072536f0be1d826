// Method auto with one disk the datastore refuses (HEAD answers 403): that disk
// falls back to the NFC stream, with the reason in the job, while the other is
// still read from the datastore. vcsim never refuses /folder, so the worker's
// provider answers the second disk's HEAD the way a vCenter refusing it does
// (the same failure its HEAD raises on a 403); everything else is real vcsim.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorType } from '../../src/export/errors.js';
import type { VmDescription } from '../../src/providers/types.js';
import { failure } from '../../src/providers/vsphere/faults.js';
import { connectVsphere, type VsphereProvider } from '../../src/providers/vsphere/index.js';
import { createExportWorker } from '../../src/worker/create-worker.js';
import { exportInput, temporalClient, testConfig } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { activityResults } from '../harness/history.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
/** Disk keys whose datastore HEAD is refused. */
const refused = new Set<number>();
let worker: Awaited<ReturnType<typeof createExportWorker>> | undefined;
let running: Promise<void> | undefined;
let temporal: Awaited<ReturnType<typeof temporalClient>> | undefined;

beforeAll(async () => {
  worker = await createExportWorker({
    config,
    connectProvider: async (profile) => {
      const provider: VsphereProvider = await connectVsphere(profile);
      const real = provider.datastoreDiskSource.bind(provider);
      provider.datastoreDiskSource = (vm: VmDescription, diskKey: number) =>
        refused.has(diskKey)
          ? Promise.reject(failure(ErrorType.AuthenticationFailed, `datastore access to /folder/${vm.name}/refused.vmdk refused (403)`, false))
          : real(vm, diskKey);
      return provider;
    },
  });
  running = worker.run();
  temporal = await temporalClient(config);
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await temporal?.close();
});

describe('method auto with a disk the datastore refuses', () => {
  it('streams that disk through NFC with the reason, reads the other from the datastore, declares each format', async () => {
    const name = `automix-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: true });
    const keys = [...vm.hashes.keys()];
    refused.add(keys[1]!);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal!.client,
      config.temporal.taskQueue,
      exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }, { options: { snapshot: true } }),
    );
    const result = await handle.result();

    expect(result.diskMethods?.map((m) => [m.diskKey, m.method])).toEqual([
      [keys[0], 'datastore'],
      [keys[1], 'ovf'],
    ]);
    expect(result.diskMethods?.[0]?.reason).toBe('resumable');
    expect(result.diskMethods?.[1]?.reason).toMatch(/^stream: restarts from zero if interrupted, because the datastore refused to serve the disk's file .* \(HTTP 403\)$/);
    expect(result.method).toBe('ovf'); // a lease was needed
    const transfers = await activityResults<{ diskKey: number; sha256: string }>(handle, 'transferDisk');
    for (const t of transfers) expect(t.sha256, `disk ${t.diskKey}`).toBe(vm.hashes.get(t.diskKey));
    const ovf = readFileSync(join(outDir, `${name}.ovf`), 'utf8');
    const formats = [...ovf.matchAll(/ovf:format="[^"]*#(\w+)"/g)].map((m) => m[1]);
    expect(formats).toEqual(['monolithicFlat', 'streamOptimized']);
    expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
  });
});
