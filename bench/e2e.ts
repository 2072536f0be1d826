// End-to-end export through Temporal (describe, lease/datastore, transfer
// activity with heartbeats, finalize, cleanup) against the raw transfer of the
// same bytes by the same engine, to show what orchestration costs.
//
//   npx tsx bench/e2e.ts        (BENCH_E2E_MIB=1024 by default, BENCH_E2E_RUNS=3)
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateSecretsKey } from '../src/config/secrets.js';
import type { HyperConfig } from '../src/config/types.js';
import { govc } from '../src/devservices/govc.js';
import { startTemporalDevServer } from '../src/devservices/temporal.js';
import { toolPath } from '../src/devservices/tools.js';
import { startVcsim } from '../src/devservices/vcsim.js';
import { vmDisks, writeVmDiskContent } from '../src/devservices/vcsim-disks.js';
import { EXPORT_WORKFLOW_TYPE, type ExportWorkflowInput } from '../src/core/export-contract.js';
import { connectVsphere } from '../src/providers/vsphere/index.js';
import { LocalSink } from '../src/storage/local-sink.js';
import { transferDisk } from '../src/transfer/index.js';
import { createExportWorker } from '../src/worker/create-worker.js';
import type { exportVmWorkflow } from '../src/workflows/export.js';

export interface E2eBenchResult {
  sizeBytes: number;
  runs: number;
  rawSeconds: number;
  exportSeconds: number;
  overheadSeconds: number;
  /** raw / export: 1.0 means orchestration costs nothing. */
  ratio: number;
  workerPeakRssMb: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

export async function runE2eBench(options: { sizeMiB?: number; runs?: number; log?: (l: string) => void } = {}): Promise<E2eBenchResult> {
  const sizeBytes = (options.sizeMiB ?? Number(process.env.BENCH_E2E_MIB ?? 1024)) * 1024 * 1024;
  const runs = options.runs ?? Number(process.env.BENCH_E2E_RUNS ?? 3);
  const log = options.log ?? ((l: string) => console.error(l));
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-bench-e2e-'));
  const temporal = await startTemporalDevServer({ logDir: workDir });
  const vcsim = await startVcsim({ workDir, autostart: false });
  const target = { govc: toolPath('govc'), vcsim };
  try {
    const vm = 'DC0_H0_VM0';
    await govc(target, ['vm.power', '-off', '-force', vm]).catch(() => undefined);
    const [disk] = await vmDisks(target, vm);
    const written = await writeVmDiskContent(target, vm, { sizeBytes, seed: 'bench', diskKey: disk!.key });
    const outRoot = join(workDir, 'out');
    mkdirSync(outRoot, { recursive: true });
    const profile = { url: vcsim.sdkUrl, username: vcsim.username, password: vcsim.password, insecure: true };
    const config: HyperConfig = {
      daemon: { addr: '127.0.0.1:0', dataDir: workDir, maxBodyBytes: 1 << 20 },
      temporal: { address: temporal.address, namespace: 'default', taskQueue: 'bench-e2e', uiPort: 0 },
      vsphere: { profiles: { default: profile }, defaultProfile: 'default' },
      s3: { region: 'us-east-1', forcePathStyle: true },
      output: { allowedRoots: [outRoot] },
      defaults: { method: 'auto', format: 'ovf', parallelDownloads: 1, removeCdrom: false, snapshot: false, powerOff: false, shutdownTimeoutSeconds: 60 },
      secretsKey: generateSecretsKey(),
      logLevel: 'warn',
      worker: { maxConcurrentTransfers: 4, heartbeatIntervalMs: 1_000, identity: 'bench', lostTimeoutMs: 600_000, restartWarningBytes: 1 << 30 },
    };
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      // already installed by a combined bench run
    }
    const worker = await createExportWorker({ config });
    const running = worker.run();
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection });
    const provider = await connectVsphere(profile);
    const description = await provider.describeVm(`/DC0/vm/${vm}`);

    const raw: number[] = [];
    const exported: number[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        // Raw: the engine alone, same source URL, same sink type.
        const source = await provider.datastoreDiskSource(description, disk!.key);
        const sink = new LocalSink(join(outRoot, `raw-${i}`));
        const writer = await sink.openDiskWriter('disk.vmdk', { sizeBytes });
        let t0 = performance.now();
        const r = await transferDisk({ source, writer, signal: new AbortController().signal, tls: { insecure: true }, onCheckpoint: () => undefined });
        raw.push((performance.now() - t0) / 1000);
        if (r.sha256 !== written.sha256) throw new Error('raw transfer hash mismatch');

        // Through Temporal: the whole export workflow.
        const input: ExportWorkflowInput = {
          jobId: `bench-${Date.now()}-${i}`,
          jobName: 'bench',
          vmPath: `/DC0/vm/${vm}`,
          format: 'ovf',
          method: 'datastore',
          options: config.defaults,
          source: { provider: 'vsphere', profile: 'default' },
          sink: { kind: 'local', directory: join(outRoot, `export-${i}`) },
          outputPath: join(outRoot, `export-${i}`),
          submittedAt: new Date().toISOString(),
        };
        t0 = performance.now();
        const result = await client.workflow.execute<typeof exportVmWorkflow>(EXPORT_WORKFLOW_TYPE, {
          taskQueue: config.temporal.taskQueue,
          workflowId: input.jobId,
          args: [input],
        });
        exported.push((performance.now() - t0) / 1000);
        if (!result.files.some((f) => f.sha256 === written.sha256)) throw new Error('export hash mismatch');
        rmSync(join(outRoot, `raw-${i}`), { recursive: true, force: true });
        rmSync(join(outRoot, `export-${i}`), { recursive: true, force: true });
        log(`  run ${i + 1}/${runs}: raw ${raw[i]!.toFixed(2)} s, export ${exported[i]!.toFixed(2)} s`);
      }
    } finally {
      await provider.logout().catch(() => undefined);
      worker.shutdown();
      await running;
      await connection.close();
    }
    const rawSeconds = median(raw);
    const exportSeconds = median(exported);
    return {
      sizeBytes,
      runs,
      rawSeconds,
      exportSeconds,
      overheadSeconds: exportSeconds - rawSeconds,
      ratio: rawSeconds / exportSeconds,
      workerPeakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await vcsim.stop();
    await temporal.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runE2eBench();
  const mib = r.sizeBytes / 1024 / 1024;
  console.log(`\nend-to-end export through Temporal vs raw transfer of the same ${mib} MiB (median of ${r.runs})`);
  console.log(`| raw engine transfer | export workflow | overhead | ratio raw/export | process peak RSS |`);
  console.log(`| ---: | ---: | ---: | ---: | ---: |`);
  console.log(
    `| ${r.rawSeconds.toFixed(2)} s (${(mib / r.rawSeconds).toFixed(0)} MiB/s) | ${r.exportSeconds.toFixed(2)} s (${(mib / r.exportSeconds).toFixed(0)} MiB/s) | ${r.overheadSeconds.toFixed(2)} s | ${r.ratio.toFixed(2)} | ${r.workerPeakRssMb.toFixed(0)} MB |`,
  );
}
