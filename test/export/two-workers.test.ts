// Two worker processes on one task queue, as on two machines. An export to a local
// directory must run on one of them from its first activity to its last (retries
// included), or its disks and descriptor end up on different machines and a retried
// transfer resumes where its partial file is not. S3 exports may run anywhere.
// Both processes share this machine's disk here, so "same machine" is checked in
// the history (ActivityTaskStarted identity), which is what decides it there.
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkerClaim } from '../../src/activities/claim-worker.js';
import type { HyperConfig } from '../../src/config/types.js';
import { parseManifest } from '../../src/export/ovf.js';
import { workflowsPath } from '../../src/worker/create-worker.js';
import { identityOfSdkIdentity } from '../../src/worker/worker-queue.js';
import { exportInput, KILLED_TRANSFER_NOTICED_MS, temporalClient, testConfig } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { activityResults, activityRuns, type ActivityRun } from '../harness/history.js';
import { minioClient } from '../harness/minio-client.js';
import { createProxy, type Proxy } from '../harness/toxiproxy.js';
import { spawnWorker, type WorkerProcess } from '../harness/worker-process.js';
import { createTestVm, sha256File, startExport, transferResults, waitForTransfers } from './helpers.js';

const services = inject('services');
const MiB = 1024 * 1024;
const hex = () => randomBytes(3).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type PendingState = proto.api.enums.v1.PendingActivityState;
const { PENDING_ACTIVITY_STATE_UNSPECIFIED, PENDING_ACTIVITY_STATE_SCHEDULED, PENDING_ACTIVITY_STATE_STARTED } = proto.api.enums.v1.PendingActivityState;

/** Two worker processes with distinct HYPERSDK_WORKER_ID on the same configuration (so the same task queue). */
async function startPair(config: HyperConfig, prefix: string): Promise<Map<string, WorkerProcess>> {
  const workers = new Map<string, WorkerProcess>();
  try {
    for (const id of [`${prefix}-a`, `${prefix}-b`]) {
      workers.set(id, await spawnWorker(config, services.workDir, id, { env: { HYPERSDK_WORKER_ID: id } }));
    }
  } catch (err) {
    await stopAll(workers);
    throw err;
  }
  return workers;
}

async function stopAll(workers: Map<string, WorkerProcess>): Promise<void> {
  // SIGKILL: a graceful stop waits for in-flight work, and nothing here needs it.
  await Promise.all([...workers.values()].map((w) => w.kill('SIGKILL')));
}

/** The claim of a local export, once claimWorker has completed (bounded wait). */
async function waitForClaim(handle: WorkflowHandle, timeoutMs = 60_000): Promise<WorkerClaim> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [claim] = await activityResults<WorkerClaim>(handle, 'claimWorker');
    if (claim) return claim;
    await sleep(200);
  }
  throw new Error(`no claimWorker result within ${timeoutMs} ms`);
}

interface Pending {
  state: PendingState;
  attempt: number;
  lastWorkerIdentity: string;
}

/** The pending activity of `type` once `predicate` holds (bounded wait). */
async function waitForPending(
  handle: WorkflowHandle,
  type: string,
  predicate: (p: Pending) => boolean,
  timeoutMs: number,
  fail: (p: Pending) => string | undefined = () => undefined,
): Promise<Pending> {
  const deadline = Date.now() + timeoutMs;
  let last: Pending | undefined;
  while (Date.now() < deadline) {
    const { raw } = await handle.describe();
    const found = raw.pendingActivities?.find((a) => a.activityType?.name === type);
    if (found) {
      last = { state: found.state ?? PENDING_ACTIVITY_STATE_UNSPECIFIED, attempt: found.attempt ?? 0, lastWorkerIdentity: found.lastWorkerIdentity ?? '' };
      const why = fail(last);
      if (why) throw new Error(why);
      if (predicate(last)) return last;
    }
    await sleep(250);
  }
  throw new Error(`pending ${type} did not reach the expected state within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/** The workflow code replays the history it made (the claim and the pinned proxies are deterministic). */
async function expectReplays(handle: WorkflowHandle): Promise<void> {
  await Worker.runReplayHistory({ workflowsPath: workflowsPath() }, await handle.fetchHistory(), handle.workflowId);
}

/**
 * Runs after the claim must all be on the claimed worker's queue and have been
 * started by it. Temporal records an activity's start only with its outcome: a
 * keep-alive still being cancelled when the workflow closes has neither, and only
 * its queue can be checked.
 */
function expectPinned(runs: ActivityRun[], claim: WorkerClaim): void {
  const after = runs.slice(runs.findIndex((r) => r.type === 'claimWorker') + 1);
  for (const run of after) {
    expect(run.taskQueue, `${run.type} scheduled on`).toBe(claim.taskQueue);
    if (run.type === 'keepLeaseAlive' && run.outcome === undefined) continue;
    expect(run.identity, `${run.type} started`).toBeDefined();
    expect(identityOfSdkIdentity(run.identity!), `${run.type} started by`).toBe(claim.identity);
  }
}

/** The workers (configured identities) that started the runs; runs never recorded as started are left out. */
function startedBy(runs: ActivityRun[]): string[] {
  return [...new Set(runs.flatMap((r) => (r.identity ? [identityOfSdkIdentity(r.identity)] : [])))];
}

describe('two worker processes on one task queue', () => {
  const config = testConfig(services);
  const prefix = `wq-${hex()}`;
  let workers = new Map<string, WorkerProcess>();
  let client: Awaited<ReturnType<typeof temporalClient>>;
  beforeAll(async () => {
    workers = await startPair(config, prefix);
    client = await temporalClient(config);
  }, 180_000);
  afterAll(async () => {
    await stopAll(workers);
    await client?.close();
  });

  it('runs every activity of a local export after claimWorker on the claiming worker; all files land, hashes right', async () => {
    const name = `wq-local-${hex()}`;
    // Powered on + snapshot: an NFC lease, so the lease activities (open, keep-alive,
    // complete) are part of what must stay on one worker too.
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 32 * MiB, poweredOn: true });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      client.client,
      config.temporal.taskQueue,
      exportInput(`wq-local-${name}`, vm.path, { kind: 'local', directory: outDir }, { method: 'ovf', options: { snapshot: true } }),
    );
    const result = await handle.result();
    const runs = await activityRuns(handle);

    // The defect first: on the shared queue alone, the activities of this one
    // local export are spread over both workers (two machines, in production).
    const claimAt = runs.findIndex((r) => r.type === 'claimWorker');
    expect(startedBy(runs.slice(claimAt + 1)), 'workers that ran this local export after the claim').toHaveLength(1);

    expect(claimAt, 'claimWorker is the first activity').toBe(0);
    const [claim] = await activityResults<WorkerClaim>(handle, 'claimWorker');
    expect(claim).toEqual({
      identity: expect.stringMatching(new RegExp(`^${prefix}-[ab]$`)) as unknown,
      taskQueue: `${config.temporal.taskQueue}@${claim!.identity}`,
      lostTimeoutMs: 600_000,
    });
    // The claim itself is answered on the shared queue, by the worker it names.
    expect(runs[0]).toMatchObject({ taskQueue: config.temporal.taskQueue, outcome: 'completed' });
    expect(identityOfSdkIdentity(runs[0]!.identity!)).toBe(claim!.identity);
    expectPinned(runs, claim!);
    expect(new Set(runs.map((r) => r.type))).toEqual(
      new Set(['claimWorker', 'describeVm', 'checkOutput', 'prepareExport', 'openLease', 'keepLeaseAlive', 'transferDisk', 'finalizeExport', 'completeLease', 'cleanupExport']),
    );

    // Every file in the one output directory, every hash right.
    expect(result.method).toBe('ovf');
    expect(readdirSync(outDir).sort()).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.mf`, `${name}.ovf`]);
    const diskHashes = await Promise.all([1, 2].map((i) => sha256File(join(outDir, `${name}-disk${i}.vmdk`))));
    expect(diskHashes.sort()).toEqual([...vm.hashes.values()].sort());
    const manifest = parseManifest(readFileSync(join(outDir, `${name}.mf`), 'utf8'));
    expect(manifest.size).toBe(3);
    for (const [file, sha] of manifest) expect(await sha256File(join(outDir, file)), file).toBe(sha);
    await expectReplays(handle);
  }, 180_000);

  it('spreads the transfers of S3 exports over both workers, without claims, even beside a local export', async () => {
    const name = `wq-s3-${hex()}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 16 * MiB, poweredOn: false });
    const s3 = minioClient(services);
    try {
      // Six exports of one powered-off VM at once (datastore reads only: no snapshot, no lease to share).
      const handles = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          startExport(
            client.client,
            config.temporal.taskQueue,
            exportInput(`${name}-${i}`, vm.path, { kind: 's3', bucket: services.minio.bucket, prefix: `exports/${name}-${i}/` }, { method: 'datastore' }),
          ),
        ),
      );
      // A local export at the same time, on the same workers: its pinned proxies
      // are its own (workflow module state is per execution), never the S3 ones'.
      const localDir = join(config.output.allowedRoots[0]!, `${name}-local`);
      const local = await startExport(
        client.client,
        config.temporal.taskQueue,
        exportInput(`${name}-local`, vm.path, { kind: 'local', directory: localDir }, { method: 'datastore' }),
      );
      await Promise.all([...handles, local].map((h) => h.result()));
      const [claim] = await activityResults<WorkerClaim>(local, 'claimWorker');
      expectPinned(await activityRuns(local), claim!);

      const transfersBy = new Set<string>();
      for (const handle of handles) {
        const runs = await activityRuns(handle);
        expect(runs.map((r) => r.type)).not.toContain('claimWorker');
        for (const run of runs) expect(run.taskQueue, `${run.type} of an S3 export`).toBe(config.temporal.taskQueue);
        for (const run of runs.filter((r) => r.type === 'transferDisk')) transfersBy.add(identityOfSdkIdentity(run.identity!));
      }
      expect([...transfersBy].sort()).toEqual([`${prefix}-a`, `${prefix}-b`]);

      // And each export is whole: both disks with the source's hashes.
      for (let i = 0; i < 6; i++) {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: services.minio.bucket, Prefix: `exports/${name}-${i}/` }));
        const disks = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.vmdk'));
        const hashes = await Promise.all(
          disks.map(async (key) => {
            const res = await s3.send(new GetObjectCommand({ Bucket: services.minio.bucket, Key: key }));
            const hash = createHash('sha256');
            for await (const chunk of res.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
            return hash.digest('hex');
          }),
        );
        expect(hashes.sort(), `export ${i}`).toEqual([...vm.hashes.values()].sort());
      }
    } finally {
      s3.destroy();
    }
  }, 240_000);
});

describe('the worker that holds a local export dies', () => {
  const DISK = 256 * MiB;
  let proxy: Proxy;
  beforeAll(async () => {
    // Datastore downloads go to the vCenter address: a throttled proxy in front of
    // the harness vcsim leaves time to kill a worker mid-transfer (~48 MB/s).
    proxy = await createProxy(services.toxiproxy.apiUrl, `wq-${hex()}`, services.vcsim.host);
    await proxy.addToxic({ name: 'bandwidth', type: 'bandwidth', attributes: { rate: 48 * 1024 } });
  });
  afterAll(async () => {
    await proxy?.remove();
  });

  it('waits for that worker to come back (same identity) and finishes there with the right hash', async () => {
    const config = testConfig(services, { vcsimHost: proxy.listen, heartbeatIntervalMs: 1_000 });
    const prefix = `wq-kill-${hex()}`;
    const workers = await startPair(config, prefix);
    const client = await temporalClient(config);
    try {
      const name = `wq-kill-${hex()}`;
      const vm = await createTestVm(services, name, { disks: 1, sizeBytes: DISK, poweredOn: false });
      const outDir = join(config.output.allowedRoots[0]!, name);
      const handle = await startExport(
        client.client,
        config.temporal.taskQueue,
        exportInput(`wq-kill-${name}`, vm.path, { kind: 'local', directory: outDir }, { method: 'datastore', transferHeartbeatTimeoutMs: KILLED_TRANSFER_NOTICED_MS }),
      );
      // The holder is the worker that is writing the partial file now.
      const running = await waitForPending(handle, 'transferDisk', (p) => p.state === PENDING_ACTIVITY_STATE_STARTED, 60_000);
      const holderId = identityOfSdkIdentity(running.lastWorkerIdentity);
      const otherId = [...workers.keys()].find((id) => id !== holderId)!;
      expect(workers.has(holderId), `${holderId} is one of ours`).toBe(true);
      await waitForTransfers(handle, (b) => b.some((t) => t.bytesDone >= 0.3 * DISK));
      await workers.get(holderId)!.kill('SIGKILL');
      const partial = join(outDir, `.${name}-disk1.vmdk.partial`);
      expect(statSync(partial).size).toBeGreaterThanOrEqual(0.3 * DISK);

      // After the heartbeat timeout the retry is scheduled, and it waits for the
      // holder although the other worker is alive and idle.
      const startedElsewhere = (p: Pending) =>
        p.state === PENDING_ACTIVITY_STATE_STARTED && p.attempt >= 2 && identityOfSdkIdentity(p.lastWorkerIdentity) !== holderId
          ? `attempt ${p.attempt} of the transfer was started by ${p.lastWorkerIdentity}, not by ${holderId} that holds the partial file`
          : undefined;
      const retry = await waitForPending(handle, 'transferDisk', (p) => p.attempt >= 2 && p.state === PENDING_ACTIVITY_STATE_SCHEDULED, 90_000, startedElsewhere);
      await sleep(3_000);
      const still = await waitForPending(handle, 'transferDisk', () => true, 10_000, startedElsewhere);
      expect(still).toMatchObject({ state: PENDING_ACTIVITY_STATE_SCHEDULED, attempt: retry.attempt });

      workers.set(holderId, await spawnWorker(config, services.workDir, `${holderId}-again`, { env: { HYPERSDK_WORKER_ID: holderId } }));
      const result = await handle.result();
      expect(result.files.find((f) => f.name.endsWith('.vmdk'))!.sha256).toBe([...vm.hashes.values()][0]);
      expect(await sha256File(join(outDir, `${name}-disk1.vmdk`))).toBe([...vm.hashes.values()][0]);
      expect(existsSync(partial)).toBe(false);

      const runs = await activityRuns(handle);
      const transfers = runs.filter((r) => r.type === 'transferDisk');
      expect(transfers).toHaveLength(1);
      expect(transfers[0]!.attempt, 'the transfer was retried').toBeGreaterThanOrEqual(2);
      expect(identityOfSdkIdentity(transfers[0]!.identity!), `not ${otherId}`).toBe(holderId);
      const [claim] = await activityResults<WorkerClaim>(handle, 'claimWorker');
      expect(claim?.identity).toBe(holderId);
      expectPinned(runs, claim!);
      // It resumed from the partial file only the holder has.
      const [transfer] = await transferResults(handle);
      expect(transfer!.restartedFromZero).toBe(false);
      expect(transfer!.resumedFromOffset).toBeGreaterThan(0);
    } finally {
      await stopAll(workers);
      await client.close();
    }
  }, 240_000);

  it('fails with WorkerLost naming the worker when it stays away past the lost timeout', async () => {
    const config = testConfig(services, { vcsimHost: proxy.listen, lostTimeoutMs: 5_000, heartbeatIntervalMs: 1_000 });
    const prefix = `wq-lost-${hex()}`;
    const workers = await startPair(config, prefix);
    const client = await temporalClient(config);
    try {
      const name = `wq-lost-${hex()}`;
      // Powered on with a snapshot: cleanup has something on the source to undo
      // even though the worker that made it is gone.
      const vm = await createTestVm(services, name, { disks: 1, sizeBytes: DISK, poweredOn: true });
      const outDir = join(config.output.allowedRoots[0]!, name);
      const handle = await startExport(
        client.client,
        config.temporal.taskQueue,
        exportInput(`wq-lost-${name}`, vm.path, { kind: 'local', directory: outDir }, { method: 'datastore', options: { snapshot: true }, transferHeartbeatTimeoutMs: KILLED_TRANSFER_NOTICED_MS }),
      );
      const claim = await waitForClaim(handle);
      expect(claim.lostTimeoutMs).toBe(5_000);
      await waitForTransfers(handle, (b) => b.some((t) => t.bytesDone >= 0.2 * DISK));
      expect(await govc(services, ['snapshot.tree', '-vm', name])).toContain('hypersdk-export-');
      await workers.get(claim.identity)!.kill('SIGKILL');

      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      type Link = { name?: string; type?: string; message?: string; timeoutType?: string; cause?: unknown };
      const chain: Link[] = [];
      for (let e = err as Link | undefined; e; e = e.cause as Link | undefined) chain.push(e);
      expect(chain.map((e) => e.name)).toEqual(['WorkflowFailedError', 'ApplicationFailure', 'ApplicationFailure', 'ActivityFailure', 'TimeoutFailure']);
      const message = `the worker ${claim.identity} that holds this export's files has been gone for more than 5 s; its partial files are on that machine (activity transferDisk, task queue ${claim.taskQueue})`;
      expect(chain[1]).toMatchObject({ type: 'WorkerLost', message });
      expect(chain[2]).toMatchObject({ type: 'WorkerLost', message });
      expect(chain[4]!.timeoutType).toBe('SCHEDULE_TO_START');
      expect((await handle.describe()).status.name).toBe('FAILED');

      // The partial file stays (it is on the lost machine); the source was still
      // cleaned up, by the worker that is left, on the shared queue.
      expect(existsSync(join(outDir, `.${name}-disk1.vmdk.partial`))).toBe(true);
      expect(await govc(services, ['snapshot.tree', '-vm', name])).not.toContain('hypersdk-export-');
      const runs = await activityRuns(handle);
      const cleanup = runs.filter((r) => r.type === 'cleanupExport');
      expect(cleanup).toHaveLength(1);
      expect(cleanup[0]).toMatchObject({ taskQueue: config.temporal.taskQueue, outcome: 'completed' });
      expect(identityOfSdkIdentity(cleanup[0]!.identity!)).not.toBe(claim.identity);
      expect(runs.find((r) => r.type === 'transferDisk')).toMatchObject({ taskQueue: claim.taskQueue, outcome: 'timed_out' });
      await expectReplays(handle);
    } finally {
      await stopAll(workers);
      await client.close();
    }
  }, 240_000);
});
