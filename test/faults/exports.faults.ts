// The fault-injection suite: exports that run while the things the product
// claims to survive happen to them at random points, chosen by a seeded RNG
// (printed; FAULTS_SEED=<seed> replays the schedule):
//   kill -9 of the worker (a new one is started), a restart of the Temporal dev
//   server (its own, persistent database file, same port), network faults on a
//   toxiproxy between worker and vcsim (connection resets, latency spikes, a
//   bandwidth squeeze under the constant bandwidth limit, stalls, the proxy
//   going away), a full local sink (a tmpfs of its own, filled by a filler file
//   that is deleted later), an NFC lease aborted behind the worker's back, and
//   interim responses (100 Continue, 103 Early Hints) in front of disk downloads'
//   responses, written by an HTTP-aware proxy of the suite's own between the
//   worker and toxiproxy (lib/interim-proxy.ts).
// Every export must end completed with each disk's SHA-256 equal to the source.
// The summary counts faults by kind, completed exports, bytes transferred twice
// and data lost (asserted to be 0).
//
// Short form (CI): 4 exports, 2 disks of 64 MiB each. FAULTS_FULL=1: 10 exports,
// 2 disks of 256 MiB each.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TransferredDisk } from '../../src/activities/types.js';
import type { HyperConfig } from '../../src/config/types.js';
import { freePort } from '../../src/devservices/ports.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/devservices/temporal.js';
import { startVcsim, type Vcsim } from '../../src/devservices/vcsim.js';
import type { ExportResult } from '../../src/core/export-contract.js';
import type { ExportSession } from '../../src/core/source-provider.js';
import { createTestVm, sha256File, startExport } from '../export/helpers.js';
import { exportInput, temporalClient, testConfig } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import type { ServiceInfo } from '../harness/services.js';
import { createProxy, type Proxy } from '../harness/toxiproxy.js';
import { spawnWorker, type WorkerProcess } from '../harness/worker-process.js';
import { selfSignedTls } from '../transfer/helpers/raw-server.js';
import { startInterimProxy, type InterimProxy } from './lib/interim-proxy.js';
import { abortLeaseBehindWorker } from './lib/lease-abort.js';
import { activityResults, ExportObserver } from './lib/observe.js';
import { createRng, seedFromEnv } from './lib/rng.js';
import { mountTmpfs, type Tmpfs } from './lib/tmpfs.js';

const MiB = 1024 * 1024;
const FULL = process.env.FAULTS_FULL === '1';
const SHAPE = FULL
  ? { exports: 10, disks: 2, diskBytes: 256 * MiB, rateKBps: 32 * 1024, exportDeadlineMs: 300_000 }
  : { exports: 4, disks: 2, diskBytes: 64 * MiB, rateKBps: 10 * 1024, exportDeadlineMs: 150_000 };

const FAULT_KINDS = [
  'kill-worker',
  'restart-temporal',
  'reset-peer',
  'latency-spike',
  'bandwidth-squeeze',
  'stall',
  'proxy-down',
  'sink-full',
  'lease-abort',
  'interim-1xx',
] as const;
type FaultKind = (typeof FAULT_KINDS)[number];

interface ExportPlan {
  index: number;
  name: string;
  method: 'datastore' | 'ovf' | 'auto';
  format: 'ovf' | 'ova';
  faults: { kind: FaultKind; at: number }[];
}

const seed = seedFromEnv();
const rng = createRng(seed);

/** Every kind at least once (the first slots are a permutation of all kinds), the rest at random. */
function planExports(): ExportPlan[] {
  const counts = FULL
    ? Array.from({ length: SHAPE.exports }, () => rng.int(2, 3))
    : (() => {
        // 4 exports, 10 kinds: 3+3+2+2, the 3s on two random exports.
        const c = [2, 2, 2, 2];
        for (const i of rng.shuffle([0, 1, 2, 3]).slice(0, 2)) c[i] = 3;
        return c;
      })();
  const pool: FaultKind[] = rng.shuffle(FAULT_KINDS);
  if (counts.reduce((a, b) => a + b, 0) < pool.length) throw new Error('the plan has fewer fault slots than fault kinds');
  const tag = randomBytes(2).toString('hex');
  // Interim responses go in front of NFC (ovf) and datastore (/folder) downloads:
  // exports that get them take the two methods in turn, from a random first.
  let interimMethod: ExportPlan['method'] | undefined;
  const planned = counts.map((count, index) => {
    const kinds: FaultKind[] = [];
    while (kinds.length < count) {
      const fromPool = pool.findIndex((k) => !kinds.includes(k));
      const kind = fromPool >= 0 ? pool.splice(fromPool, 1)[0]! : rng.pick(FAULT_KINDS.filter((k) => !kinds.includes(k)));
      kinds.push(kind);
    }
    // A full sink is set up before the export starts (its filler decides where it
    // strikes), so it is the first fault of its export.
    kinds.sort((a, b) => Number(b === 'sink-full') - Number(a === 'sink-full'));
    // Leases exist only with the NFC (ovf) method; otherwise any method. `auto`
    // exports a running VM through its own snapshot, which auto reads through the
    // datastore (the frozen base: resumable).
    let method: ExportPlan['method'] = kinds.includes('lease-abort') ? 'ovf' : rng.pick(['datastore', 'ovf', 'auto'] as const);
    if (kinds.includes('interim-1xx')) {
      if (interimMethod !== undefined && !kinds.includes('lease-abort')) method = interimMethod === 'ovf' ? 'auto' : 'ovf';
      interimMethod = method;
    }
    // Every other export is an OVA: written in place for datastore reads, packed
    // after an NFC transfer. A packed OVA needs room for a second copy, which the
    // sink-full tmpfs does not have.
    const format: 'ovf' | 'ova' = index % 2 === 1 && !(method === 'ovf' && kinds.includes('sink-full')) ? 'ova' : 'ovf';
    return {
      index,
      name: `fault${index}-${tag}`,
      method,
      format,
      // Points in increasing order, so a resumed transfer still has a later point to reach.
      faults: (() => {
        const points = kinds.map(() => Number(rng.float(0.1, 0.7).toFixed(3))).sort((a, b) => a - b);
        return kinds.map((kind, i) => ({ kind, at: points[i]! }));
      })(),
    };
  });
  // At least one export under auto (the default method), on a datastore export
  // whose faults do not need a lease.
  if (!planned.some((p) => p.method === 'auto')) {
    const pick = planned.find((p) => p.method === 'datastore') ?? planned.find((p) => !p.faults.some((f) => f.kind === 'lease-abort'));
    if (pick) pick.method = 'auto';
  }
  return planned;
}

interface FaultRecord {
  export: number;
  kind: FaultKind;
  injected: boolean;
  detail: string;
}

interface ExportOutcome {
  plan: ExportPlan;
  status: 'completed' | 'failed' | 'cancelled' | 'timed out';
  error?: string;
  wallMs: number;
  bytesTwice: number;
  dataLost: number;
  leaseOpens: number;
  hashesOk: boolean;
}

const harness = inject('services');
const plans = planExports();
const faults: FaultRecord[] = [];
const outcomes: ExportOutcome[] = [];

let workDir: string;
let dbFile: string;
let temporalPort: number;
let temporal: TemporalDevServer;
let vcsim: Vcsim;
let proxy: Proxy;
let interim: InterimProxy;
let services: ServiceInfo;
let config: HyperConfig;
let worker: WorkerProcess;
let workerSeq = 0;
let client: Awaited<ReturnType<typeof temporalClient>>;
const mounts: Tmpfs[] = [];
const suiteStarted = Date.now();

async function startOwnTemporal(): Promise<TemporalDevServer> {
  return startTemporalDevServer({ dbFile, port: temporalPort, logDir: workDir });
}

async function newWorker(): Promise<WorkerProcess> {
  return spawnWorker(config, workDir, `worker-${workerSeq++}`);
}

beforeAll(async () => {
  console.log(
    `fault-injection suite: seed ${seed} (replay with FAULTS_SEED=${seed}), ${FULL ? 'full' : 'short'} form: ` +
      `${SHAPE.exports} exports × ${SHAPE.disks} disks × ${SHAPE.diskBytes / MiB} MiB\n` +
      plans.map((p) => `  ${p.name} [${p.method}, ${p.format}]: ${p.faults.map((f) => `${f.kind}@${f.at}`).join(', ')}`).join('\n'),
  );
  workDir = join(harness.workDir, `faults-${randomBytes(3).toString('hex')}`);
  mkdirSync(workDir, { recursive: true });
  dbFile = join(workDir, 'temporal.sqlite');
  temporalPort = await freePort();
  [temporal, vcsim] = await Promise.all([startOwnTemporal(), startVcsim({ workDir })]);
  proxy = await createProxy(harness.toxiproxy.apiUrl, `faults-${randomBytes(3).toString('hex')}`, vcsim.host);
  // worker → interim proxy → toxiproxy → vcsim: every byte the worker gets from vcsim crosses both.
  interim = await startInterimProxy({ upstream: proxy.listen, tls: selfSignedTls() });
  services = {
    ...harness,
    temporal: { address: temporal.address, namespace: temporal.namespace },
    vcsim: { sdkUrl: vcsim.sdkUrl, host: vcsim.host, username: vcsim.username, password: vcsim.password, dataDir: vcsim.dataDir },
  };
  // NFC lease URLs name the server's own address; make vcsim advertise the first proxy, so every byte crosses both.
  await govc(services, ['option.set', 'vcsim.server.url', `https://${interim.listen}/sdk`]);
  await proxy.addToxic({ name: 'bandwidth', type: 'bandwidth', attributes: { rate: SHAPE.rateKBps } });
  config = testConfig(services, { vcsimHost: interim.listen, temporalAddress: temporal.address, heartbeatIntervalMs: 1_000 });
  worker = await newWorker();
  client = await temporalClient(config);
}, 180_000);

afterAll(async () => {
  printSummary();
  await client?.close().catch(() => undefined);
  if (worker) await Promise.race([worker.kill('SIGTERM'), sleep(15_000).then(() => worker.kill('SIGKILL'))]);
  for (const m of mounts) await m.unmount().catch(() => undefined);
  await interim?.close().catch(() => undefined);
  await proxy?.remove().catch(() => undefined);
  await vcsim?.stop();
  await temporal?.stop();
}, 120_000);

// ---------------------------------------------------------------- faults

async function withToxic(name: string, toxic: Parameters<Proxy['addToxic']>[0], holdMs: number): Promise<void> {
  await proxy.addToxic({ ...toxic, name });
  try {
    await sleep(holdMs);
  } finally {
    await proxy.removeToxic(name);
  }
}

async function currentLeaseId(handle: WorkflowHandle): Promise<string | undefined> {
  const leases = await activityResults<ExportSession>(handle, 'openLease');
  return leases.at(-1)?.id;
}

/** Injects one fault; returns a line describing what was done (or why it was not). */
async function inject1(kind: FaultKind, handle: WorkflowHandle, observer: ExportObserver, filler: string | undefined): Promise<{ injected: boolean; detail: string }> {
  switch (kind) {
    case 'kill-worker': {
      await worker.kill('SIGKILL');
      await observer.poll().catch(() => undefined);
      worker = await newWorker();
      return { injected: true, detail: 'SIGKILL, new worker started' };
    }
    case 'restart-temporal': {
      await temporal.stop();
      const down = rng.int(500, 2_500);
      await sleep(down);
      temporal = await startOwnTemporal();
      return { injected: true, detail: `dev server stopped, ${down} ms down, restarted on the same port and database` };
    }
    case 'reset-peer': {
      const hold = rng.int(200, 1_500);
      await withToxic('reset', { name: 'reset', type: 'reset_peer', attributes: { timeout: 0 } }, hold);
      return { injected: true, detail: `TCP resets for ${hold} ms` };
    }
    case 'latency-spike': {
      const latency = rng.int(500, 3_000);
      const hold = rng.int(2_000, 6_000);
      await withToxic('latency', { name: 'latency', type: 'latency', attributes: { latency, jitter: Math.round(latency / 4) } }, hold);
      return { injected: true, detail: `+${latency} ms latency for ${hold} ms` };
    }
    case 'bandwidth-squeeze': {
      const rate = rng.int(256, 2_048);
      const hold = rng.int(2_000, 5_000);
      await proxy.removeToxic('bandwidth');
      try {
        await withToxic('squeeze', { name: 'squeeze', type: 'bandwidth', attributes: { rate } }, hold);
      } finally {
        await proxy.addToxic({ name: 'bandwidth', type: 'bandwidth', attributes: { rate: SHAPE.rateKBps } });
      }
      return { injected: true, detail: `bandwidth ${rate} KB/s for ${hold} ms` };
    }
    case 'stall': {
      // timeout toxic: no data passes; with a timeout the connection is then closed,
      // with 0 it stays open and data flows again when the toxic goes.
      const closes = rng.next() < 0.5;
      const hold = rng.int(2_000, 6_000);
      await withToxic('stall', { name: 'stall', type: 'timeout', attributes: { timeout: closes ? hold - 500 : 0 } }, hold);
      return { injected: true, detail: `stall ${hold} ms${closes ? ', connections closed' : ', connections kept'}` };
    }
    case 'proxy-down': {
      const hold = rng.int(1_000, 5_000);
      await proxy.setEnabled(false);
      try {
        await sleep(hold);
      } finally {
        await proxy.setEnabled(true);
      }
      return { injected: true, detail: `vcsim unreachable for ${hold} ms` };
    }
    case 'sink-full': {
      if (!filler) return { injected: false, detail: 'no tmpfs (mount refused)' };
      // The filler left too little room: wait for the transfer to report it.
      const deadline = Date.now() + 60_000;
      let seen: string | undefined;
      while (Date.now() < deadline && !seen) {
        await observer.poll().catch(() => undefined);
        seen = observer.failures.find((f) => f.type === 'SinkFull')?.message;
        if (!seen) await sleep(250);
      }
      if (!seen) return { injected: false, detail: 'no SinkFull reported within 60 s' };
      // Let it retry a little while full, and check it is still running, not failed.
      await sleep(rng.int(1_000, 4_000));
      const status = (await handle.describe()).status.name;
      unlinkSync(filler);
      return { injected: true, detail: `SinkFull seen while ${status}: "${seen}"; filler deleted` };
    }
    case 'lease-abort': {
      const leaseId = await currentLeaseId(handle);
      if (!leaseId) return { injected: false, detail: 'no lease open' };
      await abortLeaseBehindWorker(vcsim.host, leaseId);
      // vcsim keeps serving a GET already in flight on an aborted lease (a real
      // vCenter cuts it); a short reset makes the transfer come back to the dead URL.
      await withToxic('reset', { name: 'reset', type: 'reset_peer', attributes: { timeout: 0 } }, 300);
      return { injected: true, detail: `HttpNfcLeaseAbort(${leaseId}) in the worker's session, then a 300 ms reset` };
    }
    case 'interim-1xx': {
      // The retries come about 1 s after the reset (the activities' first retry interval).
      const hold = rng.int(2_000, 6_000);
      const before = interim.stats();
      let reset = 0;
      interim.setInjecting(true);
      try {
        // The downloads in flight got their response heads long ago: reset them, so
        // their retries (1 s later), and any download starting within the hold, get
        // interim responses in front of theirs.
        reset = interim.resetDiskConnections();
        await sleep(hold);
      } finally {
        interim.setInjecting(false);
      }
      // A download that asked within the hold gets them once its response starts.
      for (let i = 0; i < 100 && interim.armed() > 0; i++) await sleep(100);
      const after = interim.stats();
      const n100 = after.interim[100] - before.interim[100];
      const n103 = after.interim[103] - before.interim[103];
      const responses = after.responsesPreceded - before.responsesPreceded;
      if (responses === 0) return { injected: false, detail: `no disk download started within ${hold} ms (${reset} reset)` };
      return {
        injected: true,
        detail: `${n100 + n103} interim responses (${n100}× 100 Continue, ${n103}× 103 Early Hints) in front of ${responses} disk responses within ${hold} ms; ${reset} open downloads reset first`,
      };
    }
  }
}

// ---------------------------------------------------------------- accounting

/**
 * The workflow's outcome, waiting through a Temporal restart (a dropped
 * connection is retried; only the workflow's own failure counts), bounded by `deadline`.
 */
async function awaitOutcome(
  handle: WorkflowHandle,
  deadline: number,
): Promise<{ result: ExportResult } | { error: unknown; timedOut?: false } | { timedOut: true }> {
  while (Date.now() < deadline) {
    const left = deadline - Date.now();
    try {
      const deadlineMark = Symbol('deadline');
      const result: unknown = await Promise.race([handle.result(), sleep(left).then(() => deadlineMark)]);
      if (result === deadlineMark) break;
      return { result: result as ExportResult };
    } catch (err) {
      if ((err as Error).name === 'WorkflowFailedError') return { error: err };
      await sleep(1_000); // the server is away (restart): ask again
    }
  }
  return { timedOut: true };
}

function ovaMemberSha(ova: string, member: string): string | undefined {
  try {
    return execFileSync('bash', ['-c', 'set -o pipefail; tar -xOf "$1" "$2" | sha256sum', 'sh', ova, member]).toString().split(' ')[0];
  } catch {
    return undefined;
  }
}

function looksComplete(name: string): boolean {
  return !name.startsWith('.');
}

/**
 * Another VM's export already in the output directory, with a staged disk of
 * another job beside it: no fault, failure or cleanup of ours may touch them.
 */
function plantEarlierExport(dir: string): { names: string[]; fingerprint: Map<string, string> } {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Buffer> = {
    'earlier-vm.ovf': Buffer.from('<Envelope/>'),
    'earlier-vm.mf': Buffer.from('SHA256(earlier-vm.ovf)= 00\n'),
    'earlier-vm-disk1.vmdk': randomBytes(1024 * 1024),
    '.earlier-vm-disk2.vmdk.partial': randomBytes(256 * 1024),
    '.earlier-vm-disk2.vmdk.state.json': Buffer.from(JSON.stringify({ version: 1, jobId: 'an-earlier-job', verified: false, source: {}, updatedAt: '' })),
  };
  const fingerprint = new Map<string, string>();
  for (const [name, data] of Object.entries(files)) {
    writeFileSync(join(dir, name), data);
    fingerprint.set(name, createHash('sha256').update(data).digest('hex'));
  }
  return { names: Object.keys(files), fingerprint };
}

async function fingerprint(dir: string, names: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of names) out.set(name, existsSync(join(dir, name)) ? await sha256File(join(dir, name)) : 'missing');
  return out;
}

// ---------------------------------------------------------------- the exports

describe(`fault injection (seed ${seed})`, () => {
  for (const plan of plans) {
    it(
      `${plan.name} [${plan.method}, ${plan.format}] survives ${plan.faults.map((f) => f.kind).join(', ')}`,
      async () => {
        const started = Date.now();
        const running = plan.method !== 'datastore';
        const vm = await createTestVm(services, plan.name, { disks: SHAPE.disks, sizeBytes: SHAPE.diskBytes, poweredOn: running });
        const outDir = join(config.output.allowedRoots[0]!, plan.name);
        const total = SHAPE.disks * SHAPE.diskBytes;

        let filler: string | undefined;
        const sinkFull = plan.faults.find((f) => f.kind === 'sink-full');
        if (sinkFull) {
          const size = total + 16 * MiB;
          const mounted = await mountTmpfs(outDir, size);
          if ('refused' in mounted) {
            console.log(`sink-full: mounting a tmpfs was refused (${mounted.refused}); the fault is not injected`);
          } else {
            mounts.push(mounted);
            // Room for `at` of the disks, then ENOSPC.
            filler = join(outDir, '.sink-full-filler');
            writeFileSync(filler, Buffer.alloc(size - Math.round(sinkFull.at * total)));
          }
        }

        const earlier = plantEarlierExport(outDir);
        const handle = await startExport(
          client.client,
          config.temporal.taskQueue,
          exportInput(`faults-${plan.name}`, vm.path, { kind: 'local', directory: outDir }, { method: plan.method, format: plan.format, options: { snapshot: running } }),
        );
        const observer = new ExportObserver(handle, outDir);
        observer.start();
        const deadline = started + SHAPE.exportDeadlineMs;
        const finished = () => observer.status !== undefined && observer.status !== 'RUNNING';
        try {
          let lastToken = '';
          for (const fault of plan.faults) {
            if (fault.kind !== 'sink-full') {
              // Wait for a live transfer past the fault's point, and moving since the last fault.
              while (!finished() && Date.now() < deadline) {
                const p = observer.progress();
                if (p.fraction >= fault.at && p.token !== lastToken) break;
                await sleep(100);
              }
            }
            if (finished() || Date.now() >= deadline) {
              faults.push({ export: plan.index, kind: fault.kind, injected: false, detail: 'export finished before the fault point' });
              continue;
            }
            const { injected, detail } = await inject1(fault.kind, handle, observer, filler);
            faults.push({ export: plan.index, kind: fault.kind, injected, detail });
            console.log(`${plan.name}: ${fault.kind} at ${(observer.progress().fraction * 100).toFixed(0)}%: ${detail}`);
            await observer.poll().catch(() => undefined);
            lastToken = observer.progress().token;
          }

          // Every export must finish by itself once the faults stop.
          let status: ExportOutcome['status'] = 'completed';
          let error: string | undefined;
          let result: ExportResult | undefined;
          const outcome1 = await awaitOutcome(handle, Math.max(Date.now() + 5_000, deadline));
          if ('result' in outcome1) {
            result = outcome1.result;
          } else if (outcome1.timedOut) {
            status = 'timed out';
            error = `not finished after ${SHAPE.exportDeadlineMs / 1000} s; last failures: ${observer.failures
              .slice(-3)
              .map((f) => `${f.type}: ${f.message}`)
              .join(' | ')}`;
            await handle.cancel().catch(() => undefined);
            await awaitOutcome(handle, Date.now() + 60_000);
          } else {
            const e = outcome1.error as { cause?: { name?: string; message?: string; type?: string } };
            status = e.cause?.name === 'CancelledFailure' ? 'cancelled' : 'failed';
            error = `${e.cause?.type ?? e.cause?.name ?? 'error'}: ${e.cause?.message ?? String(outcome1.error)}`;
          }
          await observer.stop();

          const transfers = await activityResults<TransferredDisk>(handle, 'transferDisk');
          const leaseOpens = (await activityResults<ExportSession>(handle, 'openLease')).length;
          const twice = observer.totalBytesTwice();

          // Data lost: any disk of a completed export whose bytes differ from the source, or that is missing.
          let dataLost = 0;
          let hashesOk = true;
          if (result) {
            for (const [diskKey, sourceSha] of vm.hashes) {
              const t = transfers.filter((x) => x.diskKey === diskKey).at(-1);
              const ova = result.ovaPath;
              // An OVA's disks are judged inside the archive, by GNU tar.
              const sha = t && ova ? ovaMemberSha(ova, t.fileName) : t && existsSync(join(outDir, t.fileName)) ? await sha256File(join(outDir, t.fileName)) : undefined;
              if (sha !== sourceSha || t?.sha256 !== sourceSha) {
                hashesOk = false;
                dataLost += SHAPE.diskBytes;
              }
            }
            const leftovers = readdirSync(outDir).filter((n) => n.endsWith('.partial') && !earlier.names.includes(n));
            expect(leftovers, 'no partial file left after completion').toEqual([]);
          } else {
            // Failed or cancelled: a clear error, and nothing under a final name that looks complete.
            const left = existsSync(outDir) ? readdirSync(outDir).filter((n) => looksComplete(n) && !earlier.names.includes(n)) : [];
            expect(left, `files that look complete after ${status}`).toEqual([]);
            expect(error ?? '').toMatch(/\w+: .{10,}/);
          }

          // Whatever happened, what another export left in the directory is untouched.
          expect(await fingerprint(outDir, earlier.names), 'an earlier export in the output survives byte for byte').toEqual(earlier.fingerprint);

          const outcome: ExportOutcome = {
            plan,
            status,
            ...(error ? { error } : {}),
            wallMs: Date.now() - started,
            bytesTwice: twice,
            dataLost,
            leaseOpens,
            hashesOk,
          };
          outcomes.push(outcome);
          console.log(
            `${plan.name}: ${status}${error ? ` (${error})` : ''} in ${(outcome.wallMs / 1000).toFixed(1)} s; ` +
              `bytes transferred twice ${(twice / MiB).toFixed(1)} MiB; lease opened ${leaseOpens}×; data lost ${dataLost}`,
          );
          // An aborted lease must be reopened, unless a Temporal restart came first in the
          // same export: heartbeats recorded after it can lag the transfer, so the abort,
          // timed by them, may land when the stream has been read to its end (seed
          // 1516558382: progress 45% after the restart, the export done 0 bytes later).
          const wasInjected = (kind: FaultKind) => faults.some((f) => f.export === plan.index && f.kind === kind && f.injected);
          if (wasInjected('lease-abort') && !wasInjected('restart-temporal')) {
            expect(leaseOpens, 'an aborted lease is reopened').toBeGreaterThanOrEqual(2);
          }
          // auto took the resumable way: every fault may cost at most about one
          // heartbeat window of re-sent bytes (1 s at the bandwidth limit, plus the
          // batches in flight), never a restart from zero.
          const viaDatastore = result?.diskMethods?.every((d) => d.method === 'datastore') ?? false;
          if (plan.method === 'auto' && result) {
            const injectedHere = faults.filter((f) => f.export === plan.index && f.injected).length;
            const window = SHAPE.rateKBps * 1024 + 8 * MiB;
            console.log(
              `${plan.name}: auto read ${result.diskMethods?.map((d) => `${d.fileName}: ${d.method}`).join(', ')}; ` +
                `${(twice / MiB).toFixed(1)} MiB twice over ${injectedHere} faults (bound ${((injectedHere * window) / MiB).toFixed(0)} MiB)`,
            );
            expect(viaDatastore, 'auto reads a VM without earlier snapshots through the datastore').toBe(true);
            expect(twice, 'bytes transferred twice under auto: at most one heartbeat window per fault').toBeLessThanOrEqual(injectedHere * window);
          }
          expect(dataLost).toBe(0);
          expect(status, error).toBe('completed');
        } finally {
          await observer.stop();
          const mount = mounts.find((m) => m.dir === outDir);
          if (mount) await mount.unmount();
          // The disks are checked: free the space for the next export.
          if (!process.env.HYPERSDK_KEEP_WORKDIR) rmSync(outDir, { recursive: true, force: true });
        }
      },
      SHAPE.exportDeadlineMs + 120_000,
    );
  }

  it('a cancel during transfer removes what the export created, and nothing in the output changes for 10 s after', async () => {
    const name = `cancel-${randomBytes(2).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: SHAPE.disks, sizeBytes: SHAPE.diskBytes, poweredOn: false });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const earlier = plantEarlierExport(outDir);
    const handle = await startExport(
      client.client,
      config.temporal.taskQueue,
      exportInput(`faults-${name}`, vm.path, { kind: 'local', directory: outDir }, { method: 'datastore' }),
    );
    const observer = new ExportObserver(handle, outDir);
    observer.start();
    try {
      const deadline = Date.now() + SHAPE.exportDeadlineMs;
      while (observer.progress().fraction < 0.3 && Date.now() < deadline) await sleep(100);
      const cancelledAt = observer.progress().fraction;
      expect(cancelledAt).toBeGreaterThanOrEqual(0.3);
      await handle.cancel();
      const outcome = await awaitOutcome(handle, Date.now() + 60_000);
      expect('error' in outcome && (outcome.error as { cause?: { name?: string } }).cause?.name).toBe('CancelledFailure');
      const all = async () => fingerprint(outDir, readdirSync(outDir).sort());
      const atCancel = await all();
      expect([...atCancel.keys()].sort(), 'only the earlier export is left').toEqual([...earlier.names].sort());
      expect(atCancel).toEqual(earlier.fingerprint);
      await sleep(10_000);
      expect(await all(), 'nothing writes to the output after the export reported cancelled').toEqual(atCancel);
      console.log(`${name}: cancelled at ${(cancelledAt * 100).toFixed(0)}%; the output held only the earlier export and did not change for 10 s`);
    } finally {
      await observer.stop();
      if (!process.env.HYPERSDK_KEEP_WORKDIR) rmSync(outDir, { recursive: true, force: true });
    }
  }, SHAPE.exportDeadlineMs + 60_000);

  it('loses no data (summary)', () => {
    const lost = outcomes.reduce((s, o) => s + o.dataLost, 0);
    expect(outcomes.length).toBe(plans.length);
    expect(lost).toBe(0);
  });
});

function printSummary(): void {
  const byKind = new Map<FaultKind, { injected: number; skipped: number }>();
  for (const k of FAULT_KINDS) byKind.set(k, { injected: 0, skipped: 0 });
  for (const f of faults) {
    const row = byKind.get(f.kind)!;
    if (f.injected) row.injected++;
    else row.skipped++;
  }
  const completed = outcomes.filter((o) => o.status === 'completed').length;
  const twice = outcomes.reduce((s, o) => s + o.bytesTwice, 0);
  const lost = outcomes.reduce((s, o) => s + o.dataLost, 0);
  const lines = [
    '',
    `## Fault-injection summary — seed ${seed}, ${FULL ? 'full' : 'short'} form, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `${plans.length} exports × ${SHAPE.disks} disks × ${SHAPE.diskBytes / MiB} MiB, bandwidth limit ${SHAPE.rateKBps / 1024} MB/s on the vcsim proxy throughout; disk GETs through the interim proxy ${interim?.stats().diskRequests ?? 0}; wall time ${((Date.now() - suiteStarted) / 1000).toFixed(0)} s`,
    '',
    '| fault | injected | not reached |',
    '| --- | ---: | ---: |',
    ...[...byKind].map(([k, v]) => `| ${k} | ${v.injected} | ${v.skipped} |`),
    `| **total** | ${faults.filter((f) => f.injected).length} | ${faults.filter((f) => !f.injected).length} |`,
    '',
    '| export | method | format | faults | result | bytes transferred twice | lease opens | wall |',
    '| --- | --- | --- | --- | --- | ---: | ---: | ---: |',
    ...outcomes.map(
      (o) =>
        `| ${o.plan.name} | ${o.plan.method} | ${o.plan.format} | ${o.plan.faults.map((f) => f.kind).join(', ')} | ${o.status}${o.status !== 'completed' ? '' : o.hashesOk ? ', SHA-256 ok' : ', SHA-256 MISMATCH'} | ${(o.bytesTwice / MiB).toFixed(1)} MiB | ${o.leaseOpens} | ${(o.wallMs / 1000).toFixed(0)} s |`,
    ),
    '',
    `| exports completed | bytes transferred twice | data lost |`,
    `| ---: | ---: | ---: |`,
    `| ${completed} / ${plans.length} | ${(twice / MiB).toFixed(1)} MiB | ${lost} bytes |`,
    '',
  ];
  console.log(lines.join('\n'));
  const report = process.env.FAULTS_REPORT;
  if (report) writeFileSync(report, lines.join('\n'));
}
