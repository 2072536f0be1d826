// Method auto takes, per disk, the path that can resume: the datastore read of the
// flat extent whenever it serves the disk, the NFC stream only when it cannot.
// Against vcsim: a powered-off VM, a running VM under the job's own snapshot, and
// a VM that already had a snapshot (which must go NFC).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { resultView, progressView } from '../../src/jobs/views.js';
import type { ExportProgress } from '../../src/core/export-contract.js';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { activityResults } from '../harness/history.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
const temporal = useWorkerAndClient(config);
const FLAT = 'vmdk.html#monolithicFlat';
const STREAM_OPTIMIZED = 'vmdk.html#streamOptimized';

async function scheduledActivities(handle: { fetchHistory(): Promise<{ events?: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null }[] | null }> }) {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
}

describe('method auto, per disk', () => {
  it('reads every disk of a powered-off VM from the datastore (resumable), opens no lease', async () => {
    const name = `autooff-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: false });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }));
    const result = await handle.result();

    expect(result.method).toBe('datastore');
    expect(result.diskMethods?.map((m) => [m.method, m.reason])).toEqual([
      ['datastore', 'resumable'],
      ['datastore', 'resumable'],
    ]);
    const disks = result.files.filter((f) => f.name.endsWith('.vmdk'));
    expect(disks.map((f) => f.sha256).sort()).toEqual([...vm.hashes.values()].sort());
    const activities = await scheduledActivities(handle);
    expect(activities).toContain('chooseMethods');
    expect(activities).not.toContain('openLease');
    const ovf = readFileSync(join(outDir, `${name}.ovf`), 'utf8');
    expect(ovf.split(FLAT).length - 1).toBe(2);
    expect(ovf).not.toContain(STREAM_OPTIMIZED);

    // The query, the REST job view and its result say the same.
    const progress = await handle.query<ExportProgress>('progress');
    expect(progress.disks.map((d) => [d.method, d.methodReason])).toEqual([
      ['datastore', 'resumable'],
      ['datastore', 'resumable'],
    ]);
    const view = progressView({ status: 'completed', query: progress, heartbeats: [] });
    expect(view.disks.map((d) => [d.method, d.reason])).toEqual([
      ['datastore', 'resumable'],
      ['datastore', 'resumable'],
    ]);
    expect(resultView(result).disks?.map((d) => [d.file, d.method, d.reason])).toEqual([
      [`${name}-disk1.vmdk`, 'datastore', 'resumable'],
      [`${name}-disk2.vmdk`, 'datastore', 'resumable'],
    ]);
  });

  it('reads the frozen base under the job\'s own snapshot of a running VM from the datastore, right bytes, snapshot removed', async () => {
    const name = `autosnap-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB + 123, poweredOn: true });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }, { options: { snapshot: true } }),
    );
    const result = await handle.result();

    expect(result.method).toBe('datastore');
    expect(result.diskMethods).toEqual([expect.objectContaining({ method: 'datastore', reason: 'resumable' })]);
    expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);
    const [prepared] = await activityResults<{ target: { kind: string }; createdSnapshotId?: string }>(handle, 'prepareExport');
    expect(prepared?.target.kind).toBe('snapshot');
    expect(prepared?.createdSnapshotId).toBeTruthy();
    const activities = await scheduledActivities(handle);
    expect(activities).not.toContain('openLease');
    expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
  });

  it('streams through NFC, with the reason, a VM that already had a snapshot before the job', async () => {
    const name = `autohad-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB, poweredOn: true });
    await govc(services, ['snapshot.create', '-vm', name, 'before-the-job']);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }, { options: { snapshot: true } }),
    );
    const result = await handle.result();

    expect(result.method).toBe('ovf');
    expect(result.diskMethods?.[0]?.method).toBe('ovf');
    expect(result.diskMethods?.[0]?.reason).toMatch(/^stream: restarts from zero if interrupted, because the VM already had snapshots/);
    expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);
    expect(await scheduledActivities(handle)).toContain('openLease');
    expect(readFileSync(join(outDir, `${name}.ovf`), 'utf8')).toContain(STREAM_OPTIMIZED);
    const tree = await govc(services, ['snapshot.tree', '-vm', name]);
    expect(tree).toContain('before-the-job');
    expect(tree).not.toContain('hypersdk-export-');
  });

  it('fails with the reason when a disk needs NFC and the server refuses it (vcsim has no ExportVm)', async () => {
    const name = `autonolease-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 1 * MiB, poweredOn: false });
    await govc(services, ['snapshot.create', '-vm', name, 'before-the-job']);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }));
    const err = (await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    )) as { cause?: { type?: string; message?: string } } | undefined;
    expect(err?.cause?.type).toBe('NotSupported');
    expect(err?.cause?.message).toMatch(/ExportVm.*the NFC export is needed because the datastore cannot serve every disk \(disk \d+: stream: restarts from zero if interrupted, because the VM already had snapshots/);
  });

  it('keeps an explicit method: ovf streams under the job\'s snapshot, with the reason naming the job\'s choice', async () => {
    // (vcsim implements ExportSnapshot but not ExportVm: a running VM with the job's snapshot.)
    const name = `autoovf-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB, poweredOn: true });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`${name}-1`, vm.path, { kind: 'local', directory: outDir }, { method: 'ovf', options: { snapshot: true } }),
    );
    const result = await handle.result();
    expect(result.method).toBe('ovf');
    expect(result.diskMethods?.[0]?.reason).toMatch(/method ovf asked by the job/);
    expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);
    expect(await scheduledActivities(handle)).not.toContain('chooseMethods');
  });
});
