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
// parallelism count. Prints `ratio ours/coldsnap <time ratio>` per case and
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
    let t = performance.now();
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
      const outDir = join(workDir, `out-${latencyMs}`);
      mkdirSync(outDir, { recursive: true });

      // Ours.
      let load = loadAverage();
      const ebs = new EBSClient({ endpoint, region: moto.region, credentials: { accessKeyId: DUMMY.AWS_ACCESS_KEY_ID, secretAccessKey: DUMMY.AWS_SECRET_ACCESS_KEY } });
      t = performance.now();
      const cpu = process.cpuUsage();
      const source = await EbsSnapshotSource.open({ ebs, snapshotId: seeded.snapshotId, ...(concurrency ? { concurrency } : {}) });
      const sink = new LocalSink(outDir);
      const writer = await openImageDiskWriter(sink, { name: 'ours.raw', format: 'raw', virtualSize: source.sizeBytes, source: 'raw', stage: false });
      const result = await transferExtents({ source, writer, signal: new AbortController().signal, onCheckpoint: () => undefined });
      await sink.close();
      let wall = seconds(t);
      const used = process.cpuUsage(cpu);
      const cpuSeconds = (used.user + used.system) / 1e6;
      await closeBlockReader(ebs);
      ebs.destroy();
      legs.push({ latencyMs, tool: 'ours', seconds: wall, cpuSeconds, dataMBps: dataBytes / 1e6 / wall, verified: result.sha256 === want && (await sha256Of(join(outDir, 'ours.raw'))) === want });
      log(`  ${latencyMs} ms, ours: ${wall.toFixed(2)} s (${(dataBytes / 1e6 / wall).toFixed(0)} MB/s of data, ${source.concurrency} reads in flight, CPU ${cpuSeconds.toFixed(1)} s, load ${load})`);

      // coldsnap.
      load = loadAverage();
      const out = join(outDir, 'coldsnap.raw');
      t = performance.now();
      const child = await run('/usr/bin/time', ['-f', '%U %S', coldsnap, 'download', seeded.snapshotId, out], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...DUMMY, AWS_ENDPOINT_URL: endpoint, AWS_EC2_METADATA_DISABLED: 'true' },
        maxBuffer: 1 << 24,
      });
      wall = seconds(t);
      const [user, system] = (child.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
      const coldsnapCpu = (user ?? NaN) + (system ?? NaN);
      legs.push({ latencyMs, tool: 'coldsnap', seconds: wall, cpuSeconds: coldsnapCpu, dataMBps: dataBytes / 1e6 / wall, verified: (await sha256Of(out)) === want });
      log(`  ${latencyMs} ms, coldsnap: ${wall.toFixed(2)} s (${(dataBytes / 1e6 / wall).toFixed(0)} MB/s of data, CPU ${coldsnapCpu.toFixed(1)} s, load ${load})`);
      rmSync(outDir, { recursive: true, force: true });
      if (latencyMs > 0) await proxy.removeToxic('latency');
    }
  } finally {
    await toxiproxy.stop();
    await moto.stop();
    rmSync(workDir, { recursive: true, force: true });
  }

  const ratios = [0, LATENCY_MS].map((latencyMs) => {
    const ours = legs.find((l) => l.latencyMs === latencyMs && l.tool === 'ours')!;
    const base = legs.find((l) => l.latencyMs === latencyMs && l.tool === 'coldsnap')!;
    return { latencyMs, value: ours.seconds / base.seconds, verified: ours.verified && base.verified };
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
