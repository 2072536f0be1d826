// Real size: a thin 128 GiB disk through the whole daemon, as OVF and as OVA.
//
//   npm run bench:large                       # 128 GiB (needs ~1 GiB free plus whatever the OVA path copies)
//   BENCH_LARGE_GIB=8 npx tsx bench/large.ts  # a quick proof that it works
//   BENCH_LARGE_DIR=/mnt/big                  # where vcsim's datastore and the outputs live (default: the temp dir)
//   BENCH_LARGE_FORMATS=ovf                   # one leg only
//
// vcsim (VMware's simulator) holds a VM whose only disk is a sparse flat extent of
// BENCH_LARGE_GIB GiB with 64 MiB of random data at its start, middle and end.
// A real hypervisord process (gateway + worker + embedded Temporal dev server)
// exports it through `hyperctl submit -vm … -output … -format ovf`, then `-format
// ova`, the way hyper2kvm drives it (method auto: datastore downloads, since the
// disk is a flat extent with no parent). Per format:
// - wall time from submit until the job is seen completed (polled every 250 ms);
// - the daemon's peak RSS during the leg (its VmHWM, reset before each leg, and
//   VmRSS sampled every 250 ms as a cross-check);
// - the daemon's CPU time during the leg (user + system, from /proc/<pid>/stat);
// - output bytes allocated against apparent size (`du`): a thin disk should take
//   the space of its data;
// - checks: every file's SHA-256 against the manifest and the disk's against the
//   source, computed by other tools (GNU tar extracts OVA members; Python's
//   hashlib hashes: OpenSSL's SHA-NI code, ~1.4 GB/s here against ~0.4 GB/s for
//   coreutils sha256sum, which matters at 128 GiB); no ActivityTaskTimedOut in
//   the workflow history (fetched from the daemon's Temporal with the client);
//   OVA wall ≤ 1.15 × OVF wall; daemon peak RSS ≤ 200 MB.
//
// Before the OVA is written in place (the integration of src/storage/ova-region-writer.ts),
// the OVA leg packs the finished files into a second, fully allocated copy: that
// is the baseline the in-place OVA is compared with. At 128 GiB it would need
// 128 GiB more than this machine has, so a watchdog cancels the job once free
// space falls under BENCH_LARGE_MIN_FREE_GIB (default 8) and the leg is reported
// as aborted, instead of filling the disk.
import { Client, Connection } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { link, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { govc } from '../src/devservices/govc.js';
import { toolPath } from '../src/devservices/tools.js';
import { startVcsim } from '../src/devservices/vcsim.js';
import { diskLocalPath, vmDisks } from '../src/devservices/vcsim-disks.js';
import { parseManifest } from '../src/export/ovf.js';
import { cpuSeconds, hyperctl, resetPeakRss, sha256Of, startDaemon, statusField, type Daemon, type JobView } from './daemon-harness.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MB = 1e6;
const VM = 'bench-large';
const DATA_BYTES = 64 * MiB;
const SAMPLE_MS = 250;
const RSS_LIMIT_MB = 200;
const OVA_WALL_LIMIT = 1.15;

const sizeGiB = Number(process.env.BENCH_LARGE_GIB ?? 128);
const formats = (process.env.BENCH_LARGE_FORMATS ?? 'ovf,ova').split(',').map((f) => f.trim()) as ('ovf' | 'ova')[];
const minFreeBytes = Number(process.env.BENCH_LARGE_MIN_FREE_GIB ?? 8) * GiB;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** `du -sB1` with and without --apparent-size: bytes allocated and bytes the files claim. */
async function diskUsage(dir: string): Promise<{ allocated: number; apparent: number }> {
  const du = async (extra: string[]) => Number((await run('du', ['-sB1', ...extra, dir])).stdout.split(/\s/)[0]);
  return { allocated: await du([]), apparent: await du(['--apparent-size']) };
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * A VM whose only disk is `sizeBytes` of sparse flat extent with DATA_BYTES of
 * random data at its start, middle and end. Returns the extent's path.
 */
async function makeThinVm(target: Parameters<typeof govc>[0], sizeBytes: number): Promise<string> {
  await govc(target, ['vm.create', '-on=false', '-m', '64', '-c', '1', '-host', 'DC0_H0', '-ds', 'LocalDS_0', '-net', 'VM Network', '-disk', `${sizeBytes / MiB}MB`, VM]);
  const disks = await vmDisks(target, VM);
  if (disks.length !== 1 || disks[0]!.capacityBytes !== sizeBytes) throw new Error(`${VM} has disks ${JSON.stringify(disks)}, not one of ${sizeBytes} bytes`);
  const descriptor = await diskLocalPath(target, disks[0]!.backingFile);
  const flat = descriptor.replace(/\.vmdk$/, '-flat.vmdk');
  const fh = await open(flat, 'w');
  try {
    await fh.truncate(sizeBytes);
    const middle = Math.floor(sizeBytes / 2 / MiB) * MiB - DATA_BYTES / 2;
    for (const at of [0, middle, sizeBytes - DATA_BYTES]) {
      for (let done = 0; done < DATA_BYTES; done += 8 * MiB) await fh.write(randomBytes(8 * MiB), 0, 8 * MiB, at + done);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  // As writeVmDiskContent does: the data under both names (NFC exports serve the
  // .vmdk, datastore downloads prefer -flat).
  await rm(descriptor, { force: true });
  await link(flat, descriptor);
  return flat;
}

interface Leg {
  format: 'ovf' | 'ova';
  status: string;
  /** Why the leg did not complete, when it did not. */
  note?: string;
  wallSeconds: number;
  /** The daemon's RSS right before the submit: what it holds before this export. */
  idleRssBytes: number;
  /** CPU seconds the daemon used during the leg (its transfer threads and GC included). */
  daemonCpuSeconds: number;
  peakRssBytes: number;
  allocated: number;
  apparent: number;
  /** Files checked against the manifest, and the disk against the source. */
  hashes: { name: string; ok: boolean }[];
  diskMatchesSource: boolean;
  activityTimeouts: number;
  activityFailures: number;
}

async function runLeg(format: 'ovf' | 'ova', daemon: Daemon, client: Client, outRoot: string, sourceSha: string, deadlineMs: number): Promise<Leg> {
  const outDir = join(outRoot, format);
  // Reset the daemon's peak RSS (Linux: clear_refs 5), so VmHWM is this leg's.
  if (!resetPeakRss(daemon.pid)) log('  (cannot reset VmHWM; the peak covers the daemon\'s whole life)');
  const idleRssBytes = statusField(daemon.pid, 'VmRSS') ?? 0;
  const cpuBefore = cpuSeconds(daemon.pid);
  let sampledPeak = 0;
  let note: string | undefined;
  let lowSpace = false;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, statusField(daemon.pid, 'VmRSS') ?? 0);
    lowSpace ||= freeBytes(outRoot) < minFreeBytes;
  }, SAMPLE_MS);

  const t0 = performance.now();
  const submitted = await hyperctl(daemon, ['submit', '-vm', `/DC0/vm/${VM}`, '-output', outDir, '-format', format, '-method', 'auto']);
  const jobId = /Job ID: (\S+)/.exec(submitted.stdout)?.[1];
  if (submitted.code !== 0 || !jobId) {
    clearInterval(sampler);
    throw new Error(`submit failed: ${submitted.stdout}`);
  }
  let job: JobView = { status: 'pending' };
  let wallSeconds = NaN;
  let cancelSent = false;
  for (let polls = 0; ; polls++) {
    if (lowSpace) {
      // A cancel does not stop an activity that never heartbeats (finalize packing
      // an OVA): only stopping the daemon keeps it from filling the disk.
      clearInterval(sampler);
      const peak = Math.max(statusField(daemon.pid, 'VmHWM') ?? 0, sampledPeak);
      const usage = await diskUsage(outDir);
      await daemon.kill();
      rmSync(outDir, { recursive: true, force: true });
      const at = (performance.now() - t0) / 1000;
      return {
        format,
        status: 'aborted',
        note: `free space fell under ${minFreeBytes / GiB} GiB after ${at.toFixed(0)} s with ${(usage.allocated / GiB).toFixed(1)} GiB written; daemon stopped`,
        wallSeconds: at,
        idleRssBytes,
        daemonCpuSeconds: cpuSeconds(daemon.pid) - cpuBefore,
        peakRssBytes: peak,
        ...usage,
        hashes: [],
        diskMatchesSource: false,
        activityTimeouts: 0,
        activityFailures: 0,
      };
    }
    const res = await fetch(`${daemon.url}/jobs/${encodeURIComponent(jobId)}`);
    job = (await res.json()) as JobView;
    if (['completed', 'failed', 'cancelled'].includes(job.status)) {
      wallSeconds = (performance.now() - t0) / 1000;
      break;
    }
    if (performance.now() - t0 > deadlineMs && !cancelSent) {
      note = `cancelled: not done after ${(deadlineMs / 1000).toFixed(0)} s`;
      cancelSent = true;
      await hyperctl(daemon, ['cancel', '-id', jobId]);
    }
    if (polls > (deadlineMs + 300_000) / SAMPLE_MS) {
      clearInterval(sampler);
      throw new Error(`job ${jobId} still ${job.status} after the deadline and a cancel`);
    }
    await sleep(SAMPLE_MS);
  }
  clearInterval(sampler);
  const peakRssBytes = Math.max(statusField(daemon.pid, 'VmHWM') ?? 0, sampledPeak);
  const daemonCpuSeconds = cpuSeconds(daemon.pid) - cpuBefore;

  // What the workflow history says about its activities (the job id is the workflow id).
  const history = await client.workflow.getHandle(jobId).fetchHistory();
  const events = history.events ?? [];
  const activityTimeouts = events.filter((e) => e.activityTaskTimedOutEventAttributes).length;
  const activityFailures = events.filter((e) => e.activityTaskFailedEventAttributes).length;
  // Name what failed (a retried attempt is not a timeout, but worth seeing).
  const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?']));
  for (const e of events) {
    const f = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (f) log(`  activity ${scheduled.get(String(f.scheduledEventId)) ?? '?'} ${e.activityTaskFailedEventAttributes ? 'failed' : 'timed out'}: ${f.failure?.message ?? ''}`);
  }

  const { allocated, apparent } = existsSync(outDir) ? await diskUsage(outDir) : { allocated: 0, apparent: 0 };
  const hashes: Leg['hashes'] = [];
  let diskMatchesSource = false;
  if (job.status === 'completed') {
    const base = join(outDir, VM);
    const ova = `${base}.ova`;
    // OVF: the files in the directory; OVA: the members of the archive, extracted by GNU tar.
    const manifestText = format === 'ova' ? (await run('tar', ['-xOf', ova, `${VM}.mf`])).stdout : readFileSync(`${base}.mf`, 'utf8');
    if (format === 'ova') {
      const listing = (await run('tar', ['-tf', ova])).stdout.trim().split('\n');
      log(`  OVA members: ${listing.join(', ')}`);
    }
    for (const [name, expected] of parseManifest(manifestText)) {
      const t = performance.now();
      const actual = format === 'ova' ? await sha256Of(ova, name) : await sha256Of(join(outDir, name));
      hashes.push({ name, ok: actual === expected });
      log(`  ${actual === expected ? 'OK ' : 'BAD'} ${name} ${actual} (${((performance.now() - t) / 1000).toFixed(1)} s to hash)`);
      if (name.endsWith('.vmdk')) diskMatchesSource = actual === sourceSha;
    }
  }
  rmSync(outDir, { recursive: true, force: true });
  return {
    format,
    status: job.status,
    ...(note !== undefined || job.error ? { note: note ?? job.error } : {}),
    wallSeconds,
    idleRssBytes,
    daemonCpuSeconds,
    peakRssBytes,
    allocated,
    apparent,
    hashes,
    diskMatchesSource,
    activityTimeouts,
    activityFailures,
  };
}

async function main(): Promise<number> {
  const sizeBytes = sizeGiB * GiB;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 4 * DATA_BYTES) throw new Error(`BENCH_LARGE_GIB=${sizeGiB}: need at least ${(4 * DATA_BYTES) / GiB} GiB`);
  const workDir = mkdtempSync(join(process.env.BENCH_LARGE_DIR ?? tmpdir(), 'hypersdk-bench-large-'));
  const outRoot = join(workDir, 'exports');
  mkdirSync(outRoot, { recursive: true });
  log(`work dir ${workDir}: ${(freeBytes(workDir) / GiB).toFixed(1)} GiB free`);
  const vcsim = await startVcsim({ workDir, autostart: false });
  let daemon: Daemon | undefined;
  let connection: Connection | undefined;
  try {
    const target = { govc: toolPath('govc'), vcsim };
    let t = performance.now();
    const flat = await makeThinVm(target, sizeBytes);
    log(`source: ${flat}, ${sizeGiB} GiB, 3 × ${DATA_BYTES / MiB} MiB of data (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    t = performance.now();
    const sourceSha = await sha256Of(flat);
    log(`source SHA-256 (Python hashlib) ${sourceSha} (${((performance.now() - t) / 1000).toFixed(1)} s)`);

    daemon = await startDaemon(workDir, outRoot, vcsim);
    log(`hypervisord pid ${daemon.pid} on ${daemon.url}, Temporal ${daemon.temporalAddress}`);
    // What start-up costs, before any export: resident now and at its peak so far.
    log(`  start-up RSS ${((statusField(daemon.pid, 'VmRSS') ?? 0) / MB).toFixed(0)} MB, peak ${((statusField(daemon.pid, 'VmHWM') ?? 0) / MB).toFixed(0)} MB`);
    connection = await Connection.connect({ address: daemon.temporalAddress });
    const client = new Client({ connection });
    // Generous: 20 MB/s, and never under 10 minutes; a leg that overruns is cancelled and reported.
    const deadlineMs = Math.max(600_000, (sizeBytes / (20 * MB)) * 1000);

    const legs: Leg[] = [];
    for (const format of formats) {
      if (legs.some((l) => l.status === 'aborted')) {
        log(`== ${format}: skipped (the daemon was stopped)`);
        continue;
      }
      log(`== ${format}: hyperctl submit -vm /DC0/vm/${VM} -output <dir> -format ${format}`);
      const leg = await runLeg(format, daemon, client, outRoot, sourceSha, deadlineMs);
      log(`  ${leg.status} in ${leg.wallSeconds.toFixed(1)} s${leg.note ? ` (${leg.note})` : ''}`);
      legs.push(leg);
    }
    return report(sizeBytes, legs);
  } finally {
    await connection?.close().catch(() => undefined);
    await daemon?.stop();
    await vcsim.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function report(sizeBytes: number, legs: Leg[]): number {
  const ovf = legs.find((l) => l.format === 'ovf');
  const ova = legs.find((l) => l.format === 'ova');
  const ratio = ovf && ova && ovf.status === 'completed' && ova.status === 'completed' ? ova.wallSeconds / ovf.wallSeconds : undefined;
  console.log(`\nlarge export: ${sizeBytes / GiB} GiB thin disk (${(3 * DATA_BYTES) / MiB} MiB of data) through hypervisord, method auto`);
  console.log('| format | status | wall | MB/s (apparent) | daemon RSS before → peak | daemon CPU | output allocated / apparent | SHA-256 vs manifest | disk vs source | activity timeouts (failures) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |');
  for (const l of legs) {
    const hashes = l.hashes.length ? `${l.hashes.filter((h) => h.ok).length}/${l.hashes.length} ok` : '-';
    console.log(
      `| ${l.format} | ${l.status}${l.note ? ` (${l.note})` : ''} | ${l.wallSeconds.toFixed(1)} s | ${(sizeBytes / MB / l.wallSeconds).toFixed(0)} | ${(l.idleRssBytes / MB).toFixed(0)} → ${(l.peakRssBytes / MB).toFixed(0)} MB | ${l.daemonCpuSeconds.toFixed(1)} s | ${(l.allocated / MiB).toFixed(0)} MiB / ${(l.apparent / GiB).toFixed(2)} GiB | ${hashes} | ${l.diskMatchesSource ? 'identical' : 'NO'} | ${l.activityTimeouts} (${l.activityFailures}) |`,
    );
  }
  if (ratio !== undefined) console.log(`OVA wall / OVF wall = ${ratio.toFixed(2)} (target ≤ ${OVA_WALL_LIMIT})`);
  const checks: [string, boolean][] = [
    ['every leg completed', legs.every((l) => l.status === 'completed')],
    ['every file matches the manifest', legs.every((l) => l.hashes.length > 0 && l.hashes.every((h) => h.ok))],
    ['every exported disk equals the source', legs.every((l) => l.diskMatchesSource)],
    ['no activity timed out', legs.every((l) => l.activityTimeouts === 0)],
    [`daemon peak RSS ≤ ${RSS_LIMIT_MB} MB`, legs.every((l) => l.peakRssBytes <= RSS_LIMIT_MB * MB)],
    [`OVA wall ≤ ${OVA_WALL_LIMIT} × OVF wall`, ratio !== undefined && ratio <= OVA_WALL_LIMIT],
  ];
  for (const [what, ok] of checks) console.log(`${ok ? 'met   ' : 'NOT MET'} ${what}`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`bench/large: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
