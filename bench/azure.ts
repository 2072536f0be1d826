// The Azure page-blob reader (issue 15) against its baseline, one run, the same
// blobs from the same Azurite:
//
//   npm run bench:azure
//   BENCH_AZURE_GIB=1            # disk size (default 1 GiB; the blob is 512 bytes longer)
//   BENCH_AZURE_CONCURRENCY=16   # our ranged GETs in flight (default: the source's)
//
// A managed-disk snapshot as Azure serves it after GrantAccess: a page blob holding
// a fixed VHD, read through a SAS URL. Two blobs: one fully written, one 10%
// written (4 MiB every 40 MiB, the rest never written). Ours: PageBlobSource (Get
// Page Ranges, ranged GETs of the allocated pages checked against their MD5)
// through the extent engine into a sparse raw image (SHA-256 for the manifest
// included). Baseline: `azcopy copy` of the same SAS URL to a file (Microsoft's
// tool, the pinned dev dependency, linked by scripts/install-azcopy.sh on first
// use; `--from-to BlobLocal` because azcopy cannot tell Azurite's loopback URL is
// a blob). azcopy writes the whole blob, footer included; ours writes the disk
// without the footer. Each output is checked against the seeded disk. Each case
// runs two rounds in alternating order (a sync before every leg); the ratio is of
// the mean times. Prints `ratio ours/azcopy <time ratio>` per case and writes
// bench/results/azure-<time>.json.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startAzurite } from '../src/devservices/azurite.js';
import { projectRoot } from '../src/devservices/tools.js';
import { PageBlobSource } from '../src/providers/azure/page-blob-source.js';
import { openImageDiskWriter } from '../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../src/storage/local-sink.js';
import { transferExtents } from '../src/transfer/extent-transfer.js';
import { blobSasUrl } from '../test/harness/azure-sas.js';
import { seedPageBlob, writeExpectedImage, type SeedRange } from '../test/harness/azure-seed.js';
import { loadAverage, sha256Of } from './daemon-harness.js';

const run = promisify(execFile);
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const diskGiB = Math.max(1, Number(process.env.BENCH_AZURE_GIB ?? 1));
const concurrency = process.env.BENCH_AZURE_CONCURRENCY ? Number(process.env.BENCH_AZURE_CONCURRENCY) : undefined;
const log = (line: string) => process.stderr.write(`${line}\n`);
const seconds = (since: number) => (performance.now() - since) / 1000;

type Tool = 'ours' | 'azcopy';

interface BlobCase {
  name: 'full' | '10% written';
  ranges: SeedRange[];
}

interface LegRun {
  seconds: number;
  cpuSeconds: number;
  verified: boolean;
  load: number;
}

interface Leg extends LegRun {
  blob: BlobCase['name'];
  tool: Tool;
  dataMBps: number;
}

const diskBytes = diskGiB * GiB;
const CASES: BlobCase[] = [
  // Written in 256 MiB ranges (the seeding holds each range in memory once).
  { name: 'full', ranges: Array.from({ length: diskBytes / (256 * MiB) }, (_, i) => ({ offset: i * 256 * MiB, length: 256 * MiB })) },
  { name: '10% written', ranges: Array.from({ length: diskBytes / (40 * MiB) }, (_, i) => ({ offset: i * 40 * MiB, length: 4 * MiB })) },
];

/** SHA-256 of a file's first `bytes` bytes. */
async function sha256Prefix(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { end: bytes - 1, highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Ours: the page-blob source and the extent engine into a sparse raw image, as a transfer activity runs them. */
async function oursLeg(url: string, outDir: string, want: string): Promise<LegRun> {
  const load = loadAverage();
  const t = performance.now();
  const cpu = process.cpuUsage();
  const source = await PageBlobSource.open({ sas: () => Promise.resolve({ url }), ...(concurrency ? { concurrency } : {}) });
  const sink = new LocalSink(outDir);
  try {
    const writer = await openImageDiskWriter(sink, { name: 'ours.raw', format: 'raw', virtualSize: source.sizeBytes, source: 'raw', stage: false });
    const result = await transferExtents({ source, writer, signal: new AbortController().signal, onCheckpoint: () => undefined });
    await sink.close();
    const elapsed = seconds(t);
    const used = process.cpuUsage(cpu);
    return { seconds: elapsed, cpuSeconds: (used.user + used.system) / 1e6, verified: result.sha256 === want && (await sha256Of(join(outDir, 'ours.raw'))) === want, load };
  } finally {
    await source.close();
  }
}

/** azcopy copy of the same SAS URL to a file, its CPU from /usr/bin/time: the blob's disk part must be the seeded disk. */
async function azcopyLeg(azcopy: string, url: string, outDir: string, want: string): Promise<LegRun> {
  const load = loadAverage();
  const out = join(outDir, 'azcopy.vhd');
  const t = performance.now();
  const child = await run('/usr/bin/time', ['-f', '%U %S', azcopy, 'copy', url, out, '--from-to', 'BlobLocal', '--output-level', 'essential', '--log-level', 'ERROR'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AZCOPY_LOG_LOCATION: outDir, AZCOPY_JOB_PLAN_LOCATION: outDir },
    maxBuffer: 1 << 24,
  });
  const elapsed = seconds(t);
  const [user, system] = (child.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  const verified = statSync(out).size === diskBytes + 512 && (await sha256Prefix(out, diskBytes)) === want;
  return { seconds: elapsed, cpuSeconds: (user ?? NaN) + (system ?? NaN), verified, load };
}

async function main(): Promise<void> {
  await run('bash', [join(projectRoot, 'scripts', 'install-azcopy.sh')], { maxBuffer: 1 << 24 });
  const azcopy = join(projectRoot, '.tools', 'bin', 'azcopy');

  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-bench-azure-'));
  const azurite = await startAzurite({ workDir });
  const legs: Leg[] = [];
  try {
    for (const blobCase of CASES) {
      const t = performance.now();
      const blob = blobCase.name === 'full' ? 'full' : 'sparse';
      const seeded = await seedPageBlob(azurite, { container: 'bench', blob, diskBytes, ranges: blobCase.ranges });
      const dataBytes = seeded.written.reduce((n, w) => n + w.data.length, 0);
      const expected = await writeExpectedImage(seeded, join(workDir, `${blob}.raw`));
      const want = await sha256Of(expected);
      rmSync(expected);
      seeded.written.length = 0; // the seeded data is not needed again: let it go
      log(`seeded ${blobCase.name}: ${diskGiB} GiB disk, ${(dataBytes / GiB).toFixed(2)} GiB written (${seconds(t).toFixed(0)} s)`);
      const url = blobSasUrl(azurite, { container: 'bench', blob, expiresAt: new Date(Date.now() + 6 * 3_600_000) });
      // Two rounds in alternating order, each leg after a sync: whichever runs first
      // must not pay for the other's (or the seeding's) dirty pages being written back.
      for (const order of [['ours', 'azcopy'], ['azcopy', 'ours']] as const) {
        for (const tool of order) {
          await run('sync');
          const outDir = join(workDir, `out-${blob}-${tool}`);
          mkdirSync(outDir, { recursive: true });
          const leg = tool === 'ours' ? await oursLeg(url, outDir, want) : await azcopyLeg(azcopy, url, outDir, want);
          legs.push({ blob: blobCase.name, tool, ...leg, dataMBps: dataBytes / 1e6 / leg.seconds });
          log(`  ${blobCase.name}, ${tool}: ${leg.seconds.toFixed(2)} s (${(dataBytes / 1e6 / leg.seconds).toFixed(0)} MB/s of data, CPU ${leg.cpuSeconds.toFixed(1)} s, load ${leg.load})${leg.verified ? '' : ' UNVERIFIED'}`);
          rmSync(outDir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await azurite.stop();
    rmSync(workDir, { recursive: true, force: true });
  }

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratios = CASES.map(({ name }) => {
    const of = (tool: Tool) => legs.filter((l) => l.blob === name && l.tool === tool);
    return {
      blob: name,
      value: mean(of('ours').map((l) => l.seconds)) / mean(of('azcopy').map((l) => l.seconds)),
      verified: [...of('ours'), ...of('azcopy')].every((l) => l.verified),
    };
  });
  for (const r of ratios) console.log(`ratio ours/azcopy ${r.value.toFixed(2)} (${r.blob} blob)${r.verified ? '' : ' UNVERIFIED'}`);
  const resultsDir = join(projectRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const iso = new Date().toISOString();
  writeFileSync(
    join(resultsDir, `azure-${iso.slice(0, 10)}T${iso.slice(11, 16).replace(':', '')}Z.json`),
    `${JSON.stringify({ diskGiB, concurrency: concurrency ?? 'source default', legs, ratios }, null, 2)}\n`,
  );
  if (ratios.some((r) => !r.verified)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/azure: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
