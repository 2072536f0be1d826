// A job owns only what it creates: an earlier export in the output survives any
// failure of a later one, a failure keeps the disks it verified (and a resubmit
// reuses them without moving a byte), and cleanup runs only once every transfer
// has stopped writing.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, inject, it } from 'vitest';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { createTestVm, prepareVmDisks, sha256File, startExport, transferResults } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
const temporal = useWorkerAndClient(config);

async function failureOf(handle: WorkflowHandle): Promise<{ type?: string; message: string }> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  const cause = (err as { cause?: { type?: string; message: string } } | undefined)?.cause;
  expect(cause, 'the export must fail').toBeDefined();
  return cause!;
}

/** Name, size and SHA-256 of every entry of `dir`, hidden ones included. */
async function snapshotDir(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir).sort()) {
    const st = statSync(join(dir, name));
    out.set(name, `${st.size}:${st.isFile() ? await sha256File(join(dir, name)) : 'dir'}`);
  }
  return out;
}

/** Events of the history in order, as [eventId, kind, activity type]. */
async function activityTimeline(handle: WorkflowHandle): Promise<{ id: number; kind: string; type: string }[]> {
  const history = await handle.fetchHistory();
  const typeOf = new Map<string, string>();
  const out: { id: number; kind: string; type: string }[] = [];
  for (const e of history.events ?? []) {
    const id = Number(e.eventId);
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      typeOf.set(String(e.eventId), s.activityType?.name ?? '');
      out.push({ id, kind: 'scheduled', type: s.activityType?.name ?? '' });
    }
    const closed =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskCanceledEventAttributes ??
      e.activityTaskTimedOutEventAttributes;
    if (closed) out.push({ id, kind: 'closed', type: typeOf.get(String(closed.scheduledEventId)) ?? '' });
  }
  return out;
}

describe('an earlier export in the output directory', () => {
  it('survives a re-export that fails, with and without overwrite, byte for byte', async () => {
    const name = `own-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: false });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const sink = { kind: 'local' as const, directory: outDir };
    const first = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-1`, vm.path, sink, { method: 'datastore' }));
    await first.result();
    const before = await snapshotDir(outDir);
    expect([...before.keys()]).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.mf`, `${name}.ovf`]);

    // Yesterday's export is there; the VM now runs, and the job forgot `snapshot`.
    await govc(services, ['vm.power', '-on', name]);
    const refused = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-2`, vm.path, sink));
    const refusal = await failureOf(refused);
    expect(refusal.type).toBe('OutputExists');
    expect(refusal.message).toContain(`${name}-disk1.vmdk`);
    expect(await snapshotDir(outDir)).toEqual(before);

    const overwriting = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-3`, vm.path, sink, { overwrite: true }));
    expect((await failureOf(overwriting)).type).toBe('VmPoweredOn');
    expect(await snapshotDir(outDir)).toEqual(before);
  });
});

/**
 * A VM whose export fails on its second disk: a symlink is planted where that
 * disk's partial goes (the export must refuse to follow it: OutputNotAllowed). With one
 * download at a time, disk 1 is verified first.
 */
async function exportFailingOnDisk2(prefix: string, sizeBytes: number) {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const vm = await createTestVm(services, name, { disks: 2, sizeBytes, poweredOn: false });
  const outDir = join(config.output.allowedRoots[0]!, name);
  const sink = { kind: 'local' as const, directory: outDir };
  mkdirSync(outDir, { recursive: true });
  const trap = join(outDir, `.${name}-disk2.vmdk.partial`);
  symlinkSync('/etc/hostname', trap);
  const failed = await startExport(
    temporal.client,
    config.temporal.taskQueue,
    exportInput(`${name}-1`, vm.path, sink, { method: 'datastore', options: { parallelDownloads: 1 } }),
  );
  return { name, vm, outDir, sink, trap, failure: await failureOf(failed) };
}

describe('a failure after a disk was verified', () => {
  it('keeps that disk out of sight, says so, and a resubmit reuses it without moving its bytes', async () => {
    const { name, vm, outDir, sink, trap, failure } = await exportFailingOnDisk2('keep', 16 * MiB);
    const [disk1Hash, disk2Hash] = [...vm.hashes.values()];
    expect(failure.type).toBe('OutputNotAllowed');
    expect(failure.message).toContain(`verified disks kept out of sight`);
    expect(failure.message).toContain(`${name}-disk1.vmdk`);
    // Nothing under a final name; disk 1 verified beside its record; the planted link untouched.
    const left = readdirSync(outDir).sort();
    expect(left.filter((f) => !f.startsWith('.'))).toEqual([]);
    const verified = join(outDir, `.${name}-disk1.vmdk.verified`);
    expect(await sha256File(verified)).toBe(disk1Hash);
    const record = JSON.parse(readFileSync(join(outDir, `.${name}-disk1.vmdk.state.json`), 'utf8')) as { verified: boolean; sha256: string; jobId: string };
    expect(record).toMatchObject({ verified: true, sha256: disk1Hash, jobId: `${name}-1` });
    expect(existsSync(trap)).toBe(true);
    expect(readFileSync('/etc/hostname', 'utf8').length).toBeGreaterThan(0);

    unlinkSync(trap);
    const again = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-2`, vm.path, sink, { method: 'datastore' }));
    const result = await again.result();
    const transfers = await transferResults(again);
    expect(transfers.find((t) => t.fileName === `${name}-disk1.vmdk`)?.reused).toBe(true);
    expect(transfers.find((t) => t.fileName === `${name}-disk2.vmdk`)?.reused).toBeUndefined();
    expect(result.files.find((f) => f.name === `${name}-disk1.vmdk`)?.sha256).toBe(disk1Hash);
    expect(await sha256File(join(outDir, `${name}-disk1.vmdk`))).toBe(disk1Hash);
    expect(await sha256File(join(outDir, `${name}-disk2.vmdk`))).toBe(disk2Hash);
    // Published, nothing hidden left behind.
    expect(readdirSync(outDir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('is not reused once the source disk has changed', async () => {
    const { name, vm, sink, trap, failure } = await exportFailingOnDisk2('stale', 8 * MiB);
    expect(failure.type).toBe('OutputNotAllowed');
    unlinkSync(trap);
    // The disk changes between the jobs (new content, new modification time).
    await new Promise((r) => setTimeout(r, 1_100));
    const fresh = await prepareVmDisks(services, name, 2, 8 * MiB, `${name}-changed`);
    const again = await startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-2`, vm.path, sink, { method: 'datastore' }));
    const result = await again.result();
    const transfers = await transferResults(again);
    expect(transfers.every((t) => !t.reused)).toBe(true);
    for (const f of result.files.filter((x) => x.name.endsWith('.vmdk'))) expect([...fresh.values()]).toContain(f.sha256);
  });
});

describe('stop, then clean', () => {
  it('a disk that fails stops its sibling, and cleanup starts only after every transfer has closed', async () => {
    const name = `stop-${randomBytes(3).toString('hex')}`;
    // Disk 1 large enough to be mid-transfer when disk 2 fails at once.
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 512 * MiB, poweredOn: false });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const sink = { kind: 'local' as const, directory: outDir };
    mkdirSync(outDir, { recursive: true });
    symlinkSync('/etc/hostname', join(outDir, `.${name}-disk2.vmdk.partial`));
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`${name}-1`, vm.path, sink, { method: 'datastore', options: { parallelDownloads: 2 } }),
    );
    expect((await failureOf(handle)).type).toBe('OutputNotAllowed');
    const timeline = await activityTimeline(handle);
    const cleanup = timeline.find((e) => e.kind === 'scheduled' && e.type === 'cleanupExport');
    expect(cleanup).toBeDefined();
    const transfersScheduled = timeline.filter((e) => e.kind === 'scheduled' && e.type === 'transferDisk').length;
    const transfersClosedBefore = timeline.filter((e) => e.kind === 'closed' && e.type === 'transferDisk' && e.id < cleanup!.id).length;
    expect(transfersScheduled).toBe(2);
    expect(transfersClosedBefore, 'every transfer closed before cleanup was scheduled').toBe(2);
    // Disk 1 was either stopped (its partial is gone) or had already finished (kept
    // verified for a resubmit, as a failure does); nothing else is left, and
    // nothing changes afterwards.
    const after = await snapshotDir(outDir);
    const trap = `.${name}-disk2.vmdk.partial`;
    expect([[trap], [`.${name}-disk1.vmdk.state.json`, `.${name}-disk1.vmdk.verified`, trap]]).toContainEqual([...after.keys()]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await snapshotDir(outDir).catch(() => undefined)).toEqual(after);
  });
});

describe('two exports of the same VM into the same directory at once', () => {
  it('one completes; the other is refused (OutputInUse or OutputExists) and damages nothing of the first', async () => {
    const name = `twice-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 256 * MiB, poweredOn: false });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const sink = { kind: 'local' as const, directory: outDir };
    const start = (n: number) =>
      startExport(temporal.client, config.temporal.taskQueue, exportInput(`${name}-${n}`, vm.path, sink, { method: 'datastore', options: { parallelDownloads: 1 } }));
    const [a, b] = await Promise.all([start(1), start(2)]);
    const outcomes = await Promise.all(
      [a, b].map((h) =>
        h.result().then(
          () => ({ ok: true as const }),
          (e: unknown) => ({ ok: false as const, type: (e as { cause?: { type?: string } }).cause?.type }),
        ),
      ),
    );
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    const refused = outcomes.find((o) => !o.ok);
    expect(['OutputInUse', 'OutputExists']).toContain(refused && !refused.ok ? refused.type : undefined);
    // The winner's export is whole: every disk equals the source.
    for (const [i, sha] of [...vm.hashes.values()].entries()) expect(await sha256File(join(outDir, `${name}-disk${i + 1}.vmdk`))).toBe(sha);
    // The loser may keep its own verified disks out of sight (a failure does).
    expect(readdirSync(outDir).filter((f) => !f.startsWith('.')).sort()).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.mf`, `${name}.ovf`]);
  });
});
