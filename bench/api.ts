// bench/api: latency of /jobs/query and /jobs/{id} under load, with ≥ 500 export
// workflows in Temporal's history. Starts its own Temporal dev server, a stub
// worker (same workflow type, finishes at once) and the real gateway on loopback.
//   npx tsx bench/api.ts [--jobs 500] [--seconds 5] [--concurrency 8]
import { Connection } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTemporalDevServer } from '../src/devservices/temporal.js';
import { startStubWorker } from '../test/api/fixtures/stub-worker.js';
import { loadConfig } from '../src/config/load.js';

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
}

export interface ApiBenchResult {
  jobs: number;
  concurrency: number;
  seconds: number;
  results: LoadResult[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function load(name: string, seconds: number, concurrency: number, request: (i: number) => Promise<Response>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const res = await request(counter++);
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        if (res.status !== 200) errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { name, requests: latencies.length, errors, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), requestsPerSecond: latencies.length / elapsed };
}

const GATEWAY_CHILD = `
import { Client, Connection } from '@temporalio/client';
import { startGateway } from './src/api/gateway.ts';
import { loadConfig } from './src/config/load.ts';
const { config } = await loadConfig();
const connection = await Connection.connect({ address: config.temporal.address });
const gateway = await startGateway(config, { temporalClient: new Client({ connection }), providerFactory: () => Promise.reject(new Error('no vCenter in the API bench')), startedAt: new Date() });
process.stdout.write('URL ' + gateway.url + '\\n');
process.stdin.on('end', async () => { await gateway.stop(); await connection.close(); process.exit(0); });
process.stdin.resume();
`;

async function spawnGateway(dataDir: string, temporalAddress: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', GATEWAY_CHILD], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, HYPERSDK_DATA_DIR: dataDir, TEMPORAL_ADDRESS: temporalAddress, DAEMON_ADDR: '127.0.0.1:0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /URL (\S+)/.exec(buffered);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}

export async function runApiBench(options: { jobs?: number; seconds?: number; concurrency?: number } = {}): Promise<ApiBenchResult> {
  const jobs = options.jobs ?? 500;
  const seconds = options.seconds ?? 5;
  const concurrency = options.concurrency ?? 8;
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-bench-api-'));
  const temporal = await startTemporalDevServer({ logDir: workDir });
  const stops: (() => Promise<void>)[] = [() => temporal.stop()];
  try {
    const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: workDir, TEMPORAL_ADDRESS: temporal.address } });
    const connection = await Connection.connect({ address: temporal.address });
    stops.unshift(() => connection.close());
    const worker = await startStubWorker(config);
    stops.unshift(() => worker.stop());
    // The gateway runs in its own process, as in production, so the load generator
    // does not share its event loop.
    const gateway = await spawnGateway(workDir, temporal.address);
    stops.unshift(() => gateway.stop());
    const post = (path: string, body: unknown) => fetch(gateway.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

    // Fill the history: completed exports (with results) plus a few that stay running.
    const ids: string[] = [];
    for (let batch = 0; ids.length < jobs; batch++) {
      const size = Math.min(50, jobs - ids.length);
      const body = Array.from({ length: size }, (_, i) => ({ vm_path: (batch * 50 + i) % 25 === 0 ? `/DC0/vm/transfer-${batch}-${i}` : `/DC0/vm/complete-${batch}-${i}` }));
      const res = (await (await post('/jobs/submit', body)).json()) as { job_ids: string[] };
      ids.push(...res.job_ids);
    }
    // Wait until visibility shows them all (and the completed ones have closed).
    for (let i = 0; i < 600; i++) {
      const status = (await (await fetch(`${gateway.url}/status`)).json()) as { total_jobs: number; completed_jobs: number };
      if (status.total_jobs >= jobs && status.completed_jobs >= jobs - Math.ceil(jobs / 25)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const pick = (i: number) => ids[(i * 7919) % ids.length]!;
    // Closed outcomes are immutable and cached: one warm-up pass, as a running daemon would have.
    await post('/jobs/query', { all: true });

    const results = [
      await load('GET /jobs/{id}', seconds, concurrency, (i) => fetch(`${gateway.url}/jobs/${pick(i)}`)),
      await load('POST /jobs/query {job_ids:[id]}', seconds, concurrency, (i) => post('/jobs/query', { job_ids: [pick(i)] })),
      await load('POST /jobs/query {status:running}', seconds, concurrency, () => post('/jobs/query', { status: ['running', 'pending'] })),
      await load('POST /jobs/query {all, limit:50}', seconds, concurrency, () => post('/jobs/query', { all: true, limit: 50 })),
      await load(`POST /jobs/query {all} (${jobs} jobs)`, seconds, Math.min(concurrency, 4), () => post('/jobs/query', { all: true })),
    ];
    return { jobs: ids.length, concurrency, seconds, results };
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }
}

function print(result: ApiBenchResult): void {
  console.log(`bench/api: ${result.jobs} export workflows in history, ${result.seconds}s per endpoint, concurrency ${result.concurrency}, loopback`);
  console.log('endpoint'.padEnd(42), 'requests'.padStart(9), 'errors'.padStart(7), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'req/s'.padStart(8), '  p99<50ms');
  for (const r of result.results) {
    console.log(
      r.name.padEnd(42),
      String(r.requests).padStart(9),
      String(r.errors).padStart(7),
      r.p50Ms.toFixed(2).padStart(8),
      r.p99Ms.toFixed(2).padStart(8),
      r.requestsPerSecond.toFixed(0).padStart(8),
      r.p99Ms < 50 ? '  yes' : '  NO',
    );
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { values } = parseArgs({ options: { jobs: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' } } });
  const result = await runApiBench({
    jobs: values.jobs ? Number(values.jobs) : undefined,
    seconds: values.seconds ? Number(values.seconds) : undefined,
    concurrency: values.concurrency ? Number(values.concurrency) : undefined,
  });
  print(result);
  process.exitCode = result.results.slice(0, 2).every((r) => r.p99Ms < 50 && r.errors === 0) ? 0 : 1;
}
