// The AWS source (issue 14) against its baseline, one run, the same seeded snapshot
// from the same moto:
//
//   npm run bench:aws
//   BENCH_AWS_GIB=2            # volume size (default 2 GiB)
//   BENCH_AWS_DATA_EVERY=2     # every n-th 512 KiB block holds data (default 2: half the volume)
//   BENCH_AWS_CONCURRENCY=32   # our reads in flight (default: the source's)
//
// Ours: EbsSnapshotSource (ListSnapshotBlocks, GetSnapshotBlock verified by its
// SHA-256) through the extent engine into a sparse raw image, as a transfer
// activity would. Baseline: `coldsnap download` (the AWS-labs tool, built by
// scripts/build-coldsnap.sh on first use) of the same snapshot to a file. Each
// output's SHA-256 must equal the seeded volume's. Then both again through
// toxiproxy adding 20 ms to every answer, the latency that makes a reader's
// parallelism count. Each case runs two rounds in alternating order (a sync before
// every leg); the ratio is of the mean times. Prints `ratio ours/coldsnap <time ratio>` per case and
// writes bench/results/aws-<time>.json.
import { EBSClient } from '@aws-sdk/client-ebs';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMoto } from '../src/devservices/moto.js';
import { projectRoot } from '../src/devservices/tools.js';
import { startToxiproxy } from '../src/devservices/toxiproxy.js';
import { closeBlockReader, EbsSnapshotSource } from '../src/providers/aws/ebs-snapshot-source.js';
import { openImageDiskWriter } from '../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../src/storage/local-sink.js';
import { transferExtents } from '../src/transfer/extent-transfer.js';
import { EBS_BLOCK_SIZE, seedSnapshot } from '../test/harness/aws-seed.js';
import { createProxy } from '../test/harness/toxiproxy.js';
import { loadAverage, sha256Of } from './daemon-harness.js';

const run = promisify(execFile);
const GiB = 2 ** 30;
const volumeGiB = Math.max(1, Number(process.env.BENCH_AWS_GIB ?? 2));
const dataEvery = Math.max(1, Number(process.env.BENCH_AWS_DATA_EVERY ?? 2));
const concurrency = process.env.BENCH_AWS_CONCURRENCY ? Number(process.env.BENCH_AWS_CONCURRENCY) : undefined;
const LATENCY_MS = 20;
const log = (line: string) => process.stderr.write(`${line}\n`);
const seconds = (since: number) => (performance.now() - since) / 1000;
// moto checks no signature; these never leave loopback.
const DUMMY = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench-secret', AWS_REGION: 'us-east-1' };

interface Leg {
  latencyMs: number;
  tool: 'ours' | 'coldsnap';
  seconds: number;
  cpuSeconds: number;
  dataMBps: number;
  verified: boolean;
}

interface LegRun {
  seconds: number;
  cpuSeconds: number;
  verified: boolean;
  load: number;
}

/** Ours: the source and the extent engine into a sparse raw image, as a transfer activity runs them. */
async function oursLeg(endpoint: string, region: string, snapshotId: string, outDir: string, want: string): Promise<LegRun> {
  const load = loadAverage();
  const ebs = new EBSClient({ endpoint, region, credentials: { accessKeyId: DUMMY.AWS_ACCESS_KEY_ID, secretAccessKey: DUMMY.AWS_SECRET_ACCESS_KEY } });
  const t = performance.now();
  const cpu = process.cpuUsage();
  const source = await EbsSnapshotSource.open({ ebs, snapshotId, ...(concurrency ? { concurrency } : {}) });
  const sink = new LocalSink(outDir);
  const writer = await openImageDiskWriter(sink, { name: 'ours.raw', format: 'raw', virtualSize: source.sizeBytes, source: 'raw', stage: false });
  const result = await transferExtents({ source, writer, signal: new AbortController().signal, onCheckpoint: () => undefined });
  await sink.close();
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  await closeBlockReader(ebs);
  ebs.destroy();
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6, verified: result.sha256 === want && (await sha256Of(join(outDir, 'ours.raw'))) === want, load };
}

/** coldsnap download of the same snapshot to a file, its CPU from /usr/bin/time. */
async function coldsnapLeg(coldsnap: string, endpoint: string, snapshotId: string, outDir: string, want: string): Promise<LegRun> {
  const load = loadAverage();
  const out = join(outDir, 'coldsnap.raw');
  const t = performance.now();
  const child = await run('/usr/bin/time', ['-f', '%U %S', coldsnap, 'download', snapshotId, out], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...DUMMY, AWS_ENDPOINT_URL: endpoint, AWS_EC2_METADATA_DISABLED: 'true' },
    maxBuffer: 1 << 24,
  });
  const seconds = (performance.now() - t) / 1000;
  const [user, system] = (child.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  return { seconds, cpuSeconds: (user ?? NaN) + (system ?? NaN), verified: (await sha256Of(out)) === want, load };
}

async function main(): Promise<void> {
  await run('bash', [join(projectRoot, 'scripts', 'install-tools.sh'), 'moto', 'toxiproxy'], { maxBuffer: 1 << 24 });
  await run('bash', [join(projectRoot, 'scripts', 'build-coldsnap.sh')], { maxBuffer: 1 << 24 });
  const coldsnap = join(projectRoot, '.tools', 'bin', 'coldsnap');

  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-bench-aws-'));
  const moto = await startMoto({ workDir });
  const toxiproxy = await startToxiproxy({ workDir });
  const legs: Leg[] = [];
  try {
    const direct = new EBSClient({ endpoint: moto.endpoint, region: moto.region, credentials: { accessKeyId: DUMMY.AWS_ACCESS_KEY_ID, secretAccessKey: DUMMY.AWS_SECRET_ACCESS_KEY } });
    const blocks = Array.from({ length: Math.floor((volumeGiB * GiB) / EBS_BLOCK_SIZE / dataEvery) }, (_, i) => i * dataEvery);
    const t = performance.now();
    const seeded = await seedSnapshot(direct, { volumeSizeGiB: volumeGiB, blockIndexes: blocks, concurrency: 8 });
    const dataBytes = blocks.length * EBS_BLOCK_SIZE;
    log(`seeded ${seeded.snapshotId}: ${volumeGiB} GiB volume, ${(dataBytes / GiB).toFixed(2)} GiB in ${blocks.length} blocks (${seconds(t).toFixed(0)} s)`);
    const volumePath = join(workDir, 'volume.raw');
    const fh = await open(volumePath, 'w');
    await fh.truncate(volumeGiB * GiB);
    for (const [index, data] of seeded.written) await fh.write(data, 0, data.length, index * EBS_BLOCK_SIZE);
    await fh.close();
    const want = await sha256Of(volumePath);
    rmSync(volumePath);
    direct.destroy();

    const proxy = await createProxy(toxiproxy.apiUrl, 'moto', moto.endpoint.replace('http://', ''));
    for (const latencyMs of [0, LATENCY_MS]) {
      if (latencyMs > 0) await proxy.addToxic({ name: 'latency', type: 'latency', attributes: { latency: latencyMs, jitter: 0 } });
      const endpoint = `http://${proxy.listen}`;
      // Two rounds in alternating order, each leg after a sync: whichever runs first
      // must not pay for the other's (or the seeding's) dirty pages being written back.
      for (const order of [['ours', 'coldsnap'], ['coldsnap', 'ours']] as const) {
        for (const tool of order) {
          await run('sync');
          const outDir = join(workDir, `out-${latencyMs}-${tool}`);
          mkdirSync(outDir, { recursive: true });
          const leg = tool === 'ours' ? await oursLeg(endpoint, moto.region, seeded.snapshotId, outDir, want) : await coldsnapLeg(coldsnap, endpoint, seeded.snapshotId, outDir, want);
          legs.push({ latencyMs, tool, ...leg, dataMBps: dataBytes / 1e6 / leg.seconds });
          log(`  ${latencyMs} ms, ${tool}: ${leg.seconds.toFixed(2)} s (${(dataBytes / 1e6 / leg.seconds).toFixed(0)} MB/s of data, CPU ${leg.cpuSeconds.toFixed(1)} s, load ${leg.load})`);
          rmSync(outDir, { recursive: true, force: true });
        }
      }
      if (latencyMs > 0) await proxy.removeToxic('latency');
    }
  } finally {
    await toxiproxy.stop();
    await moto.stop();
    rmSync(workDir, { recursive: true, force: true });
  }

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratios = [0, LATENCY_MS].map((latencyMs) => {
    const of = (tool: Leg['tool']) => legs.filter((l) => l.latencyMs === latencyMs && l.tool === tool);
    return {
      latencyMs,
      value: mean(of('ours').map((l) => l.seconds)) / mean(of('coldsnap').map((l) => l.seconds)),
      verified: [...of('ours'), ...of('coldsnap')].every((l) => l.verified),
    };
  });
  for (const r of ratios) {
    console.log(`ratio ours/coldsnap ${r.value.toFixed(2)}${r.latencyMs ? ` (+${r.latencyMs} ms per answer)` : ''}${r.verified ? '' : ' UNVERIFIED'}`);
  }
  const resultsDir = join(projectRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const iso = new Date().toISOString();
  writeFileSync(join(resultsDir, `aws-${iso.slice(0, 10)}T${iso.slice(11, 16).replace(':', '')}Z.json`), `${JSON.stringify({ volumeGiB, dataEvery, concurrency: concurrency ?? 'source default', legs, ratios }, null, 2)}\n`);
  if (ratios.some((r) => !r.verified)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/aws: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
