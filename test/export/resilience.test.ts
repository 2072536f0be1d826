// The claims that make hypersdk worth having: a killed worker, a restarted
// Temporal server and a cancellation cost seconds and never data. Transfers run
// through toxiproxy with a bandwidth limit so there is time to hurt them.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ServiceInfo } from '../harness/services.js';
import { exportInput, KILLED_TRANSFER_NOTICED_MS, temporalClient, testConfig } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import type { Proxy } from '../harness/toxiproxy.js';
import { spawnWorker } from '../harness/worker-process.js';
import { createTestVm, startExport, throttledVcsim, transferResults, waitForTransfers } from './helpers.js';

const harness = inject('services');
const MiB = 1024 * 1024;
const DISK = 256 * MiB;
let proxy: Proxy;
/** The harness services, but with a vcsim of this file's own whose every byte (SOAP, NFC, /folder) crosses the proxy. */
let services: ServiceInfo;
let stop: () => Promise<void>;

beforeAll(async () => {
  // ~48 MB/s: a 256 MiB disk takes ~5 s, long enough to kill things mid-way.
  ({ services, proxy, stop } = await throttledVcsim(harness, 'resilience', 48 * 1024));
});
afterAll(async () => {
  await stop?.();
});

describe('kill -9 of the worker mid-transfer', () => {
  // datastore: /folder downloads honour Range, so the new worker resumes from the
  // last heartbeat. ovf: vcsim's NFC endpoint ignores Range (always 200), so the
  // new worker must notice and start over from zero, still producing the right file.
  // auto on a running VM with the job's snapshot: the datastore read of the frozen
  // base, so it resumes too (issue 16: the default method's promise).
  it.each([
    { method: 'datastore' as const, poweredOn: false, resumes: true, used: 'datastore' as const },
    { method: 'ovf' as const, poweredOn: true, resumes: false, used: 'ovf' as const },
    { method: 'auto' as const, poweredOn: true, resumes: true, used: 'datastore' as const },
  ])('$method: a new worker finishes the export with the right hash (resumes: $resumes)', async ({ method, poweredOn, resumes, used }) => {
    const config = testConfig(services, { vcsimHost: proxy.listen, heartbeatIntervalMs: 1_000 });
    const name = `kill${method}-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: DISK, poweredOn });
    const temporal = await temporalClient(config);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const first = await spawnWorker(config, services.workDir, `${name}-a`);
    let second: Awaited<ReturnType<typeof spawnWorker>> | undefined;
    try {
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(`kill-${name}`, vm.path, { kind: 'local', directory: outDir }, { method, options: { snapshot: poweredOn }, transferHeartbeatTimeoutMs: KILLED_TRANSFER_NOTICED_MS }),
      );
      const beats = await waitForTransfers(handle, (b) => b.some((t) => t.bytesDone >= 0.3 * DISK));
      await first.kill('SIGKILL');
      const partial = join(outDir, `.${name}-disk1.vmdk.partial`);
      const writtenAtKill = statSync(partial).size;
      const checkpointAtKill = Math.max(...beats.map((b) => b.bytesDone));
      expect(writtenAtKill).toBeGreaterThanOrEqual(0.3 * DISK);

      second = await spawnWorker(config, services.workDir, `${name}-b`);
      const result = await handle.result();
      expect(result.method).toBe(used);
      expect(result.diskMethods?.map((m) => m.method)).toEqual([used]);
      expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);

      const [transfer] = await transferResults(handle);
      expect(transfer!.restartedFromZero).toBe(!resumes);
      if (resumes) {
        expect(transfer!.resumedFromOffset).toBeGreaterThanOrEqual(checkpointAtKill);
        const resent = writtenAtKill - transfer!.resumedFromOffset;
        // At most one heartbeat interval's worth at the throttled rate (1 s ≈ 48 MiB).
        expect(resent).toBeLessThanOrEqual(48 * MiB);
        console.log(
          `kill -9 (${method}): ${(writtenAtKill / MiB).toFixed(1)} MiB written at the kill, resumed from ${(transfer!.resumedFromOffset / MiB).toFixed(1)} MiB: ${(resent / MiB).toFixed(1)} MiB transferred twice`,
        );
      } else {
        expect(transfer!.resumedFromOffset).toBe(0);
      }
    } finally {
      await first.kill();
      await second?.kill('SIGTERM');
      await temporal.close();
    }
  });
});

describe('cancellation mid-transfer', () => {
  it('ends cancelled, aborts the lease, removes the snapshot and leaves no file that looks complete', async () => {
    const config = testConfig(services, { vcsimHost: proxy.listen });
    const name = `cancelvm-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: DISK, poweredOn: true });
    const temporal = await temporalClient(config);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const worker = await spawnWorker(config, services.workDir, name);
    try {
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(`cancel-${name}`, vm.path, { kind: 'local', directory: outDir }, { method: 'ovf', options: { snapshot: true } }),
      );
      await waitForTransfers(handle, (b) => b.some((t) => t.bytesDone >= 0.2 * DISK));
      const snapshotsDuring = await govc(services, ['snapshot.tree', '-vm', name]);
      expect(snapshotsDuring).toContain('hypersdk-export-');

      await handle.cancel();
      const err = (await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      )) as { name?: string; cause?: { name?: string } };
      expect(err?.name).toBe('WorkflowFailedError');
      expect(err.cause?.name).toBe('CancelledFailure');
      expect((await handle.describe()).status.name).toBe('CANCELLED');

      // No file under a final name, no partial either.
      const left = existsSync(outDir) ? readdirSync(outDir) : [];
      expect(left).toEqual([]);
      expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
      // The lease was aborted: cleanup ran with the open lease and completed.
      const history = await handle.fetchHistory();
      const scheduled = new Map<string, { name: string; input: unknown }>();
      let abortedLease: string | undefined;
      for (const event of history.events ?? []) {
        const s = event.activityTaskScheduledEventAttributes;
        if (s) {
          const input = s.input?.payloads?.[0] ? defaultPayloadConverter.fromPayload(s.input.payloads[0]) : undefined;
          scheduled.set(String(event.eventId), { name: s.activityType?.name ?? '', input });
        }
        const done = event.activityTaskCompletedEventAttributes;
        const activity = done ? scheduled.get(String(done.scheduledEventId)) : undefined;
        if (activity?.name === 'cleanupExport') {
          const input = activity.input as { leaseId?: string; leaseCompleted: boolean };
          if (input.leaseId && !input.leaseCompleted) abortedLease = input.leaseId;
        }
      }
      expect(abortedLease, 'a completed cleanupExport that aborted the open lease').toBeDefined();
    } finally {
      await worker.kill('SIGTERM');
      await temporal.close();
    }
  });
});

describe('control activities that outlast their heartbeat timeout', () => {
  // 1.5 s of latency on every SOAP answer makes describe, the snapshot and its
  // removal take several seconds each, against a 2 s heartbeat timeout: without
  // heartbeats while they wait, each attempt is timed out and started again
  // beside the first (a second snapshot, a second OVA packing...).
  it('heartbeat while they wait: no timeout, no second attempt, the right hash', async () => {
    const config = testConfig(services, { vcsimHost: proxy.listen, heartbeatIntervalMs: 1_000 });
    const name = `slowsoap-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB, poweredOn: true });
    const temporal = await temporalClient(config);
    const worker = await spawnWorker(config, services.workDir, name);
    await proxy.addToxic({ name: 'slow-soap', type: 'latency', attributes: { latency: 1_500, jitter: 0 } });
    try {
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(`slow-${name}`, vm.path, { kind: 'local', directory: join(config.output.allowedRoots[0]!, name) }, {
          options: { snapshot: true },
          controlHeartbeatTimeoutMs: 2_000,
        }),
      );
      const result = await handle.result();
      expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const at = (e: (typeof events)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
      const types = new Map<string, string>();
      const started = new Map<string, number>();
      let longest = { type: '', ms: 0 };
      for (const e of events) {
        const s = e.activityTaskScheduledEventAttributes;
        if (s) types.set(String(e.eventId), s.activityType?.name ?? '');
        const st = e.activityTaskStartedEventAttributes;
        if (st) started.set(String(st.scheduledEventId), at(e));
        const done = e.activityTaskCompletedEventAttributes;
        if (done) {
          const type = types.get(String(done.scheduledEventId)) ?? '';
          const ms = at(e) - (started.get(String(done.scheduledEventId)) ?? at(e));
          if (type !== 'transferDisk' && type !== 'keepLeaseAlive' && ms > longest.ms) longest = { type, ms };
        }
      }
      console.log(`slowest control activity under 1.5 s SOAP latency: ${longest.type}, ${(longest.ms / 1000).toFixed(1)} s (heartbeat timeout 2 s)`);
      expect(longest.ms, 'some control activity must outlast the heartbeat timeout for this test to mean anything').toBeGreaterThan(2_000);
      expect(events.filter((e) => e.activityTaskTimedOutEventAttributes)).toEqual([]);
      expect(events.map((e) => e.activityTaskStartedEventAttributes?.attempt).filter((a) => a != null).every((a) => a === 1)).toBe(true);
      // One snapshot was made and removed again.
      expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
    } finally {
      await proxy.removeToxic('slow-soap');
      await worker.kill('SIGTERM');
      await temporal.close();
    }
  });
});
