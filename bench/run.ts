// Every benchmark, one after the other (they would disturb each other on two
// cores), and one table at the end. Each row is a ratio against a baseline
// measured in the same run. `npm run bench`; BENCH_QUICK=1 for smaller sizes.
import { runApiBench } from './api.js';
import { runDiscoveryBench } from './discovery.js';
import { runE2eBench } from './e2e.js';
import { runTransferBench } from './transfer.js';

const quick = process.env.BENCH_QUICK === '1';
const GiB = 1024 * 1024 * 1024;
const rows: string[][] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

log('== transfer: engine vs curl -o');
const transfer = await runTransferBench({ sizeBytes: (quick ? 1 : 4) * GiB, parallel: 4, rounds: Number(process.env.BENCH_ROUNDS ?? 1), log });
const t1 = transfer.single;
const t4 = transfer.parallel;
rows.push([
  `transfer, 1 × ${transfer.sizeBytes / GiB} GiB to local disk`,
  `${t1.engine.mbPerSec.toFixed(0)} MB/s`,
  `curl -o ${t1.curl.mbPerSec.toFixed(0)} MB/s (+fsync ${t1.curlFsync.mbPerSec.toFixed(0)})`,
  `${t1.ratio.toFixed(2)} (${t1.ratioVsDurable.toFixed(2)} vs curl+fsync)`,
  `${t1.enginePeakRssMb.toFixed(0)} MB`,
]);
rows.push([
  `transfer, ${t4.disks} × ${transfer.sizeBytes / GiB} GiB in parallel`,
  `${t4.engine.mbPerSec.toFixed(0)} MB/s`,
  `${t4.disks} curls ${t4.curl.mbPerSec.toFixed(0)} MB/s (+fsync ${t4.curlFsync.mbPerSec.toFixed(0)})`,
  `${t4.ratio.toFixed(2)} (${t4.ratioVsDurable.toFixed(2)} vs curl+fsync)`,
  `${t4.enginePeakRssMb.toFixed(0)} MB`,
]);

log('== discovery: listVms vs govc on a 1000-VM vcsim');
const discovery = await runDiscoveryBench();
rows.push([
  `discovery, ${discovery.vms} VMs with all fields`,
  `${discovery.ours_ms.toFixed(0)} ms`,
  `govc object.collect ${discovery.govc_ms.toFixed(0)} ms`,
  `${(discovery.govc_ms / discovery.ours_ms).toFixed(2)} (govc time / ours)`,
  '',
]);

log('== api: latency under load with 500 jobs in history');
const api = await runApiBench({ jobs: 500, seconds: quick ? 3 : 5, concurrency: 8 });
for (const r of api.results) {
  rows.push([`api ${r.name} (c=${api.concurrency})`, `p50 ${r.p50Ms.toFixed(1)} ms`, `p99 ${r.p99Ms.toFixed(1)} ms`, `${r.requestsPerSecond.toFixed(0)} req/s`, '']);
}

log('== end-to-end: export through Temporal vs raw transfer');
const e2e = await runE2eBench({ sizeMiB: quick ? 256 : 1024, log });
rows.push([
  `end-to-end export, ${e2e.sizeBytes / 1024 / 1024} MiB through Temporal`,
  `${e2e.exportSeconds.toFixed(2)} s`,
  `raw engine transfer ${e2e.rawSeconds.toFixed(2)} s`,
  `${e2e.ratio.toFixed(2)} (raw / export; overhead ${e2e.overheadSeconds.toFixed(2)} s)`,
  `${e2e.workerPeakRssMb.toFixed(0)} MB`,
]);

const header = ['benchmark', 'hypersdk', 'baseline', 'ratio', 'peak RSS'];
console.log(`\n| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
