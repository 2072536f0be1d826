// Method auto with one disk the datastore refuses (HEAD answers 403): that disk
// falls back to the NFC stream, with the reason in the job, while the other is
// still read from the datastore. vcsim never refuses /folder, so the worker's
// provider answers the second disk's HEAD the way a vCenter refusing it does
// (the same failure its HEAD raises on a 403); everything else is real vcsim.
// The second test loses that disk's lease mid-stream once the refusal is lifted:
// the disk moves to the datastore instead of restarting the stream on a new lease.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorType } from '../../src/core/errors.js';
import type { VmDescription } from '../../src/core/vm-description.js';
import { failure } from '../../src/providers/vsphere/faults.js';
import { exportInput, testConfig } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { activityResults } from '../harness/history.js';
import { abortLeaseBehindWorker } from '../faults/lib/lease-abort.js';
import { makeTestPki, pem } from '../harness/certs.js';
import { startAdaptedWorker, type AdaptedWorker } from '../harness/adapted-worker.js';
import { letStandInsThrough } from '../harness/download-stand-ins.js';
import { trippingRelay } from '../harness/tripping-relay.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
/** Disk keys whose datastore HEAD is refused. */
const refused = new Set<number>();
let adapted: AdaptedWorker | undefined;
let temporal: AdaptedWorker['temporal'] | undefined;
/** Disk keys whose datastore HEAD passes but whose GET goes to this refusing server (host:port). */
const getRefused = new Map<number, string>();
/** Ids of the leases the worker opened, in order. */
const openedLeases: string[] = [];
/** When set, lease device URLs of these disks go through this proxy (host:port). */
const streamProxy = new Map<number, string>();

beforeAll(async () => {
  adapted = await startAdaptedWorker(config, (provider) => {
    const real = provider.datastoreDiskSource.bind(provider);
    provider.datastoreDiskSource = (vm: VmDescription, diskKey: number) =>
      refused.has(diskKey)
        ? Promise.reject(
            failure(
              ErrorType.AuthenticationFailed,
              `datastore access to /folder/${vm.name}/refused.vmdk refused (403)`,
              false,
            ),
          )
        : real(vm, diskKey).then((source) => {
            const refuser = getRefused.get(diskKey);
            return refuser
              ? { ...source, url: source.url.replace(/^https?:\/\/[^/]+/, `https://${refuser}`) }
              : source;
          });
    letStandInsThrough(provider, (url) =>
      [...streamProxy.values(), ...getRefused.values()].includes(url.host),
    );
    const openLease = provider.openExportSession.bind(provider);
    provider.openExportSession = async (target) => {
      const lease = await openLease(target);
      openedLeases.push(lease.id);
      for (const device of lease.devices) {
        const relay = device.diskKey === undefined ? undefined : streamProxy.get(device.diskKey);
        if (relay) device.url = device.url.replace(/^(https?:\/\/)[^/]+/, `$1${relay}`);
      }
      return lease;
    };
  });
  temporal = adapted.temporal;
});
afterAll(async () => {
  await adapted?.stop();
});

/** Starts an auto export of `vmPath` under the job's snapshot into its own directory. */
async function exportWithSnapshot(name: string, vmPath: string) {
  const outDir = join(config.output.allowedRoots[0]!, name);
  const handle = await startExport(
    temporal!.client,
    config.temporal.taskQueue,
    exportInput(`${name}-1`, vmPath, { kind: 'local', directory: outDir }, { options: { snapshot: true } }),
  );
  return { outDir, handle };
}

/** Every disk transferred once more to its final hash (the source's), and the formats the OVF declares, in disk order. */
async function expectDisksAndFormats(
  handle: Awaited<ReturnType<typeof exportWithSnapshot>>['handle'],
  hashes: Map<number, string>,
  ovfPath: string,
  formats: string[],
): Promise<void> {
  const transfers = await activityResults<{ diskKey: number; sha256: string }>(handle, 'transferDisk');
  expect(transfers.map((t) => t.diskKey).sort()).toEqual([...hashes.keys()].sort());
  for (const t of transfers) expect(t.sha256, `disk ${t.diskKey}`).toBe(hashes.get(t.diskKey));
  const ovf = readFileSync(ovfPath, 'utf8');
  expect([...ovf.matchAll(/ovf:format="[^"]*#(\w+)"/g)].map((m) => m[1])).toEqual(formats);
}

describe('method auto with a disk the datastore refuses', () => {
  it('streams that disk through NFC with the reason, reads the other from the datastore, declares each format', async () => {
    const name = `automix-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: true });
    const keys = [...vm.hashes.keys()];
    refused.add(keys[1]!);
    const { outDir, handle } = await exportWithSnapshot(name, vm.path);
    const result = await handle.result();

    expect(result.diskMethods?.map((m) => [m.diskKey, m.method])).toEqual([
      [keys[0], 'datastore'],
      [keys[1], 'ovf'],
    ]);
    expect(result.diskMethods?.[0]?.reason).toBe('resumable');
    expect(result.diskMethods?.[1]?.reason).toMatch(
      /^stream: restarts from zero if interrupted, because the datastore refused to serve the disk's file .* \(HTTP 403\)$/,
    );
    expect(result.method).toBe('ovf'); // a lease was needed
    const transfers = await activityResults<{ diskKey: number; sha256: string }>(handle, 'transferDisk');
    for (const t of transfers) expect(t.sha256, `disk ${t.diskKey}`).toBe(vm.hashes.get(t.diskKey));
    const ovf = readFileSync(join(outDir, `${name}.ovf`), 'utf8');
    const formats = [...ovf.matchAll(/ovf:format="[^"]*#(\w+)"/g)].map((m) => m[1]);
    expect(formats).toEqual(['monolithicFlat', 'streamOptimized']);
    expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
  });
});

describe('method auto when a streamed disk loses its lease', () => {
  it('moves the disk to the datastore once the datastore serves it, instead of reopening the stream', async () => {
    const name = `automove-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 16 * MiB, poweredOn: true });
    const keys = [...vm.hashes.keys()];
    const streamed = keys[1]!;
    refused.add(streamed);
    const leasesBefore = openedLeases.length;
    const relay = await trippingRelay(services.vcsim.host, 3 * MiB, async () => {
      refused.delete(streamed); // the lock or permission that refused /folder is gone
      // The worker opened the lease before any byte of its device URL moved.
      await abortLeaseBehindWorker(services.vcsim.host, openedLeases.at(-1)!);
    });
    streamProxy.set(streamed, relay.address);
    try {
      const { outDir, handle } = await exportWithSnapshot(name, vm.path);
      const leases = async () => activityResults<{ id: string }>(handle, 'openLease');
      const result = await handle.result();

      expect(relay.relayed(), 'the stream was cut mid-disk').toBeGreaterThanOrEqual(3 * MiB);
      expect(result.diskMethods?.map((m) => [m.diskKey, m.method])).toEqual([
        [keys[0], 'datastore'],
        [streamed, 'datastore'],
      ]);
      const reason = result.diskMethods?.[1]?.reason ?? '';
      expect(reason).toMatch(
        /^resumable; moved from the NFC stream when its lease was lost \((\d+) bytes streamed before are read again from the datastore\)$/,
      );
      expect(result.method).toBe('datastore');
      expect(await leases(), 'no second lease was opened').toHaveLength(1);
      expect(openedLeases.length - leasesBefore).toBe(1);
      await expectDisksAndFormats(handle, vm.hashes, join(outDir, `${name}.ovf`), [
        'monolithicFlat',
        'monolithicFlat',
      ]);
      expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
    } finally {
      streamProxy.delete(streamed);
      refused.delete(streamed);
      relay.server.close();
    }
  });
});

describe('method auto when the datastore refuses the GET after its HEAD passed', () => {
  it('streams that disk through NFC instead, with the refusal as the reason', async () => {
    const name = `autoget-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: true });
    const keys = [...vm.hashes.keys()];
    const pki = makeTestPki(join(tmpdir(), `${name}-pki`));
    let gets = 0;
    const refuser = createHttpsServer({ key: pem(pki.serverKey), cert: pem(pki.serverCert) }, (req, res) => {
      gets += req.method === 'GET' ? 1 : 0;
      res.writeHead(403, { 'content-type': 'text/plain' }).end('read access to this file is denied');
    });
    await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
    getRefused.set(keys[1]!, `127.0.0.1:${(refuser.address() as { port: number }).port}`);
    try {
      const { outDir, handle } = await exportWithSnapshot(name, vm.path);
      const result = await handle.result();

      expect(gets, 'the GET was refused once, not retried').toBe(1);
      expect(result.diskMethods?.map((m) => [m.diskKey, m.method])).toEqual([
        [keys[0], 'datastore'],
        [keys[1], 'ovf'],
      ]);
      expect(result.diskMethods?.[1]?.reason).toMatch(
        /^stream: restarts from zero if interrupted, because the datastore refused to read the disk's file \(.*HTTP 403.*\)$/,
      );
      expect(result.method).toBe('ovf');
      await expectDisksAndFormats(handle, vm.hashes, join(outDir, `${name}.ovf`), [
        'monolithicFlat',
        'streamOptimized',
      ]);
    } finally {
      getRefused.clear();
      refuser.close();
    }
  });
});
