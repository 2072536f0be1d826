// Stop and restart the Temporal server (persistent SQLite history) in the middle
// of a transfer: the worker rides it out and the export completes intact.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/devservices/ports.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/devservices/temporal.js';
import { exportInput, startWorker, temporalClient, testConfig } from '../harness/export-env.js';
import { createProxy } from '../harness/toxiproxy.js';
import { createTestVm, startExport, transferResults, waitForTransfers } from './helpers.js';

const services = inject('services');
const MiB = 1024 * 1024;
let temporal: TemporalDevServer | undefined;

afterAll(async () => {
  await temporal?.stop();
});

describe('Temporal server restart mid-export', () => {
  it('completes the export with the right hash after the server comes back', async () => {
    const dir = join(services.workDir, `temporal-restart-${randomBytes(3).toString('hex')}`);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const dbFile = join(dir, 'temporal.db');
    temporal = await startTemporalDevServer({ logDir: dir, dbFile, port });

    // datastore downloads go to the vCenter address, so the proxy slows them down.
    const proxy = await createProxy(services.toxiproxy.apiUrl, `restart-${randomBytes(3).toString('hex')}`, services.vcsim.host);
    await proxy.addToxic({ name: 'bandwidth', type: 'bandwidth', attributes: { rate: 32 * 1024 } });
    const config = testConfig(services, { vcsimHost: proxy.listen, temporalAddress: temporal.address });
    const name = `restart-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 256 * MiB, poweredOn: false });
    const worker = await startWorker(config);
    const client = await temporalClient(config);
    try {
      const handle = await startExport(
        client.client,
        config.temporal.taskQueue,
        exportInput(`restart-${name}`, vm.path, { kind: 'local', directory: join(config.output.allowedRoots[0]!, name) }, { method: 'datastore' }),
      );
      await waitForTransfers(handle, (b) => b.some((t) => t.bytesDone >= 0.3 * 256 * MiB));

      await temporal.stop();
      await new Promise((r) => setTimeout(r, 3_000));
      temporal = await startTemporalDevServer({ logDir: dir, dbFile, port });

      const result = await handle.result();
      expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);
      const [transfer] = await transferResults(handle);
      expect(transfer!.bytes).toBe(256 * MiB);
    } finally {
      await worker.stop();
      await client.close();
      await proxy.remove();
    }
  });
});
