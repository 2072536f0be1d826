// Transfer benchmark: our engine against `curl -o`, streaming a generated file from
// a loopback HTTP server to local disk. The server and the engine each run in their
// own process, so the engine's peak RSS (process.resourceUsage().maxRSS) is its own.
//
//   npx tsx bench/transfer.ts            # 4 GiB; BENCH_TRANSFER_GIB=1 for a quicker run
//   BENCH_TRANSFER_OUT=/dev/shm          # outputs on tmpfs: the pipeline's CPU cost without the disk
//   BENCH_CHECKPOINT_MS=600000           # (almost) no periodic fdatasync, to see its cost
//
// The engine fsyncs before it reports a file done; plain `curl -o` leaves the data
// in the page cache. Both baselines are printed: `curl -o`, and `curl -o` followed
// by an fsync of the file (the same guarantee). On a small machine the figures
// swing with the page cache's dirty limits and the disk's write-back; run twice.
//
// Prints MB/s for both, the ratio (engine / curl), peak RSS; then the same with 4
// disks in parallel (one engine process, like one worker) against 4 parallel curls.
// Targets: ratio >= 0.9, engine peak RSS <= 200 MB.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const MB = 1e6;

export interface TransferBenchOptions {
  sizeBytes?: number;
  parallel?: number;
  workDir?: string;
  /** Where outputs are written (default: inside workDir). */
  outDir?: string;
  log?: (line: string) => void;
}

export interface RunFigures {
  seconds: number;
  mbPerSec: number;
}

export interface TransferBenchResult {
  sizeBytes: number;
  single: RunComparison;
  parallel: RunComparison & { disks: number };
}

export interface RunComparison {
  engine: RunFigures;
  /** curl -o: data left in the page cache, nothing durable. */
  curl: RunFigures;
  /** curl -o followed by an fsync of the file: the same guarantee as the engine. */
  curlFsync: RunFigures;
  ratio: number;
  ratioVsDurable: number;
  enginePeakRssMb: number;
  sha256Ok: boolean;
}

// ---- child: the HTTP server (Range-capable, streams the file) -------------------
async function serve(file: string): Promise<void> {
  const size = statSync(file).size;
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    res.writeHead(m ? 206 : 200, {
      'content-length': String(size - start),
      ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    createReadStream(file, { start, highWaterMark: 1024 * 1024 }).pipe(res);
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
  await once(process.stdin.resume(), 'end');
  server.close();
}

// ---- child: the engine, N disks concurrently ------------------------------------
async function engine(dir: string, urls: string[]): Promise<void> {
  const { LocalSink } = await import('../src/storage/local-sink.js');
  const { transferDisk } = await import('../src/transfer/transfer-disk.js');
  const sink = new LocalSink(dir);
  const t0 = performance.now();
  const results = await Promise.all(
    urls.map(async (url, i) => {
      const writer = await sink.openDiskWriter(`disk-${i}.vmdk`, {});
      return transferDisk({
        source: { url, headers: {} },
        writer,
        signal: new AbortController().signal,
        onCheckpoint: () => undefined,
        // BENCH_CHECKPOINT_MS: to see what the periodic fdatasync costs (default: the engine's 2 s).
        checkpointEveryMs: process.env.BENCH_CHECKPOINT_MS ? Number(process.env.BENCH_CHECKPOINT_MS) : undefined,
      });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const maxRssMb = (process.resourceUsage().maxRSS * 1024) / MB;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssMb, hashes: results.map((r) => r.sha256) })}\n`);
}

// ---- parent ---------------------------------------------------------------------
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function generate(file: string, size: number): Promise<string> {
  // 64 MiB of random bytes repeated: incompressible enough, quick to produce.
  const block = randomBytes(64 * 1024 * 1024);
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  for (let left = size; left > 0; ) {
    const piece = left >= block.length ? block : block.subarray(0, left);
    hash.update(piece);
    if (!out.write(piece)) await once(out, 'drain');
    left -= piece.length;
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

export async function runTransferBench(opts: TransferBenchOptions = {}): Promise<TransferBenchResult> {
  const size = opts.sizeBytes ?? Math.round(Number(process.env.BENCH_TRANSFER_GIB ?? '4') * 1024 ** 3);
  const disks = opts.parallel ?? 4;
  const log = opts.log ?? ((l: string) => console.log(l));
  const work = await mkdtemp(join(opts.workDir ?? tmpdir(), 'hyper-bench-transfer-'));
  const src = join(work, 'source.bin');
  // BENCH_TRANSFER_OUT=/dev/shm measures the pipeline without the disk (fsync is free on tmpfs).
  const out = join(opts.outDir ?? process.env.BENCH_TRANSFER_OUT ?? work, `out-${process.pid}`);
  const tsxImport = ['--import', 'tsx', SELF];
  let server: ReturnType<typeof spawn> | undefined;
  try {
    log(`generating ${(size / 1024 ** 3).toFixed(2)} GiB in ${work}`);
    const sha256 = await generate(src, size);
    // The server stats the file at start: start it only once the file is complete.
    server = spawn(process.execPath, [...tsxImport, '--serve', src], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [portLine] = (await once(server.stdout!, 'data')) as [Buffer];
    const url = (i: number): string => `http://127.0.0.1:${portLine.toString().trim()}/disk-${i}`;
    await run('sh', ['-c', 'cat "$0" > /dev/null', src]); // warm the page cache for both contenders

    // `durable` adds an fsync of curl's output (`sync FILE`), the guarantee the engine gives before it reports done.
    const curlOnce = (n: number, durable: boolean): Promise<number> =>
      timed(() =>
        Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const file = join(out, `curl-${i}`);
            await run('curl', ['-sSf', '-o', file, url(i)]);
            if (durable) await run('sync', [file]);
          }),
        ),
      );
    const engineOnce = async (n: number): Promise<{ seconds: number; maxRssMb: number; ok: boolean }> => {
      const urls = Array.from({ length: n }, (_, i) => url(i));
      const r = JSON.parse(await run(process.execPath, [...tsxImport, '--engine', out, ...urls])) as {
        seconds: number;
        maxRssMb: number;
        hashes: string[];
      };
      return { seconds: r.seconds, maxRssMb: r.maxRssMb, ok: r.hashes.every((h) => h === sha256) };
    };
    const figures = (seconds: number, n: number): RunFigures => ({ seconds, mbPerSec: (size * n) / MB / seconds });

    const measure = async (n: number) => {
      await run('mkdir', ['-p', out]);
      const curlSec = await curlOnce(n, false);
      await rm(out, { recursive: true, force: true });
      await run('sync', []);
      await run('mkdir', ['-p', out]);
      const curlSyncSec = await curlOnce(n, true);
      await rm(out, { recursive: true, force: true });
      await run('sync', []);
      await run('mkdir', ['-p', out]);
      const e = await engineOnce(n);
      await rm(out, { recursive: true, force: true });
      await run('sync', []);
      const curl = figures(curlSec, n);
      const curlFsync = figures(curlSyncSec, n);
      const eng = figures(e.seconds, n);
      const ratio = eng.mbPerSec / curl.mbPerSec;
      const ratioVsDurable = eng.mbPerSec / curlFsync.mbPerSec;
      log(
        `${n} disk(s): engine ${eng.mbPerSec.toFixed(0)} MB/s (fsynced, hashed), curl -o ${curl.mbPerSec.toFixed(0)} MB/s, ` +
          `curl -o + fsync ${curlFsync.mbPerSec.toFixed(0)} MB/s; ratio ${ratio.toFixed(2)} vs curl -o, ` +
          `${ratioVsDurable.toFixed(2)} vs curl -o + fsync; engine peak RSS ${e.maxRssMb.toFixed(0)} MB, sha256 ${e.ok ? 'ok' : 'MISMATCH'}`,
      );
      return { engine: eng, curl, curlFsync, ratio, ratioVsDurable, enginePeakRssMb: e.maxRssMb, sha256Ok: e.ok };
    };
    const single = await measure(1);
    const parallel = { disks, ...(await measure(disks)) };
    return { sizeBytes: size, single, parallel };
  } finally {
    server?.stdin?.end();
    server?.kill();
    await rm(out, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

const [, , mode, ...args] = process.argv;
if (process.argv[1] === SELF) {
  if (mode === '--serve') await serve(args[0]!);
  else if (mode === '--engine') await engine(args[0]!, args.slice(1));
  else {
    const r = await runTransferBench();
    const pass = r.single.ratioVsDurable >= 0.9 && r.single.enginePeakRssMb <= 200 && r.parallel.enginePeakRssMb <= 200;
    console.log(JSON.stringify(r, null, 2));
    console.log(`targets (ratio vs durable curl >= 0.9, peak RSS <= 200 MB): ${pass ? 'met' : 'NOT met'}`);
  }
}
