// The export session is reopened when it is lost mid-stream (vSphere: the NFC
// lease aborted behind the worker's back): the workflow releases the lost session,
// opens one new session (not one per failure it hears of: the transfer and the
// keep-alive both notice), streams the disk again on the new device URL and
// completes the new session. Method ovf, so no disk can move to the datastore.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { abortLeaseBehindWorker } from '../faults/lib/lease-abort.js';
import { startAdaptedWorker, type AdaptedWorker } from '../harness/adapted-worker.js';
import { letStandInsThrough } from '../harness/download-stand-ins.js';
import { exportInput, testConfig } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { activityResults } from '../harness/history.js';
import { trippingRelay } from '../harness/tripping-relay.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
/** Ids of the sessions the worker opened, in order. */
const opened: string[] = [];
/** When set, every session device URL goes through this relay (host:port). */
let relayAddress: string | undefined;
let adapted: AdaptedWorker | undefined;
let temporal: AdaptedWorker['temporal'] | undefined;

beforeAll(async () => {
  adapted = await startAdaptedWorker(config, (provider) => {
    letStandInsThrough(provider, (url) => url.host === relayAddress);
    const open = provider.openExportSession.bind(provider);
    provider.openExportSession = async (target) => {
      const session = await open(target);
      opened.push(session.id);
      const relay = relayAddress;
      if (relay) for (const device of session.devices) device.url = device.url.replace(/^(https?:\/\/)[^/]+/, `$1${relay}`);
      return session;
    };
  });
  temporal = adapted.temporal;
});
afterAll(async () => {
  await adapted?.stop();
});

/** Inputs of the scheduled activities of one type, in history order. */
async function activityInputs<T>(handle: WorkflowHandle, type: string): Promise<T[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((event) => {
    const s = event.activityTaskScheduledEventAttributes;
    const payload = s?.input?.payloads?.[0];
    return s?.activityType?.name === type && payload ? [defaultPayloadConverter.fromPayload<T>(payload)] : [];
  });
}

describe('an export session lost mid-stream', () => {
  it('is released and reopened once, and the disk streamed again on the new session has the right hash', async () => {
    const name = `reopen-${randomBytes(3).toString('hex')}`;
    // (vcsim implements ExportSnapshot but not ExportVm: a running VM with the job's snapshot.)
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: true });
    const relay = await trippingRelay(services.vcsim.host, 3 * MiB, async () => {
      // The worker opened the session before any byte of its device URL moved.
      await abortLeaseBehindWorker(services.vcsim.host, opened.at(-1)!);
    });
    relayAddress = relay.address;
    try {
      const outDir = join(config.output.allowedRoots[0]!, name);
      const handle = await startExport(
        temporal!.client,
        config.temporal.taskQueue,
        exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }, { method: 'ovf', options: { snapshot: true } }),
      );
      const result = await handle.result();

      expect(relay.relayed(), 'the stream was cut mid-disk').toBeGreaterThanOrEqual(3 * MiB);
      expect(result.method).toBe('ovf');
      expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);

      const sessions = (await activityResults<{ id: string }>(handle, 'openLease')).map((s) => s.id);
      expect(sessions, 'one session, then one reopened').toHaveLength(2);
      const [lost, reopened] = sessions as [string, string];
      expect(reopened).not.toBe(lost);
      const keptAlive = (await activityInputs<{ leaseId: string }>(handle, 'keepLeaseAlive')).map((k) => k.leaseId);
      expect(keptAlive).toEqual([lost, reopened]);
      const cleanups = await activityInputs<{ leaseId?: string; leaseCompleted: boolean; files?: unknown }>(handle, 'cleanupExport');
      expect(cleanups[0], 'the lost session is released first, the output left alone').toMatchObject({ leaseId: lost, leaseCompleted: false });
      expect(cleanups[0]?.files).toBeUndefined();
      const completed = (await activityInputs<{ leaseId: string }>(handle, 'completeLease')).map((c) => c.leaseId);
      expect(completed).toEqual([reopened]);
      expect(cleanups.at(-1), 'the final cleanup knows the new session completed').toMatchObject({ leaseId: reopened, leaseCompleted: true });
      expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
    } finally {
      relayAddress = undefined;
      relay.server.close();
    }
  });
});
