// Discovery benchmark: list every VM with the properties VmDescription needs on a
// vcsim holding 1000+ VMs, ours (listVms) against govc, VMware's own Go CLI, asking
// the same vcsim for the same properties.
//
// govc command (the fair equivalent): `govc object.collect -json -type m / <props>`
// - a ContainerView over VirtualMachine plus one RetrievePropertiesEx of exactly the
// VM properties listVms reads. govc is a fresh process per run (process start is part
// of its cost) but reuses its persisted session (GOVC_PERSIST_SESSION), so it does not
// log in each run; ours is timed on an open session, and also reported with login.
// govc does not compute inventory paths (we do, from folder/datacenter names fetched
// in the same call), so if anything the comparison favours govc.
//
//   npx tsx bench/discovery.ts        (HYPERSDK_BENCH_VMS_PER_POOL=500 -> 1000 VMs)
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { toolPath } from '../src/devservices/tools.js';
import { startVcsim } from '../src/devservices/vcsim.js';
import { connectVsphere } from '../src/providers/vsphere/index.js';
import { VM_PROPERTIES } from '../src/providers/vsphere/vm.js';

const execFileAsync = promisify(execFile);

export interface DiscoveryBenchResult {
  ours_ms: number;
  govc_ms: number;
  ratio: number;
  vms: number;
  /** Ours including connect + login + logout, for reference. */
  ours_with_login_ms: number;
  runs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

export async function runDiscoveryBench(options: { vmsPerPool?: number; runs?: number } = {}): Promise<DiscoveryBenchResult> {
  const vmsPerPool = options.vmsPerPool ?? Number(process.env.HYPERSDK_BENCH_VMS_PER_POOL ?? 500);
  const runs = options.runs ?? 7;
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-bench-discovery-'));
  // The default model has a standalone host and a cluster pool: 2 x vmsPerPool VMs, in nested folders.
  const vcsim = await startVcsim({ workDir, vmsPerPool, folders: 2, autostart: false });
  const govcEnv = {
    ...process.env,
    GOVC_URL: vcsim.sdkUrl,
    GOVC_USERNAME: vcsim.username,
    GOVC_PASSWORD: vcsim.password,
    GOVC_INSECURE: '1',
    HOME: workDir, // persisted govc session lives here, not in the user's home
  };
  const govcArgs = ['object.collect', '-json', '-type', 'm', '/', ...VM_PROPERTIES];
  const runGovc = () => execFileAsync(toolPath('govc'), govcArgs, { env: govcEnv, maxBuffer: 1 << 30 });
  const connect = () =>
    connectVsphere({ url: vcsim.sdkUrl, username: vcsim.username, password: vcsim.password, insecure: true });
  try {
    const provider = await connect();
    // Warm-up: both clients once (JIT, vcsim caches, govc session file).
    const vms = (await provider.listVms()).length;
    const govcCount = ((await runGovc()).stdout.match(/"kind": "enter"/g) ?? []).length;
    if (govcCount !== vms) throw new Error(`govc saw ${govcCount} VMs, we saw ${vms}`);

    const ours: number[] = [];
    const govc: number[] = [];
    const withLogin: number[] = [];
    for (let i = 0; i < runs; i++) {
      // Interleaved, so drift in the machine's load hits both alike.
      ours.push((await timed(() => provider.listVms())).ms);
      govc.push((await timed(runGovc)).ms);
      withLogin.push(
        (
          await timed(async () => {
            const p = await connect();
            await p.listVms();
            await p.logout();
          })
        ).ms,
      );
    }
    await provider.logout();
    const ours_ms = median(ours);
    const govc_ms = median(govc);
    return { ours_ms, govc_ms, ratio: ours_ms / govc_ms, vms, ours_with_login_ms: median(withLogin), runs };
  } finally {
    await vcsim.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runDiscoveryBench();
  const row = (k: string, v: string) => console.log(`${k.padEnd(34)} ${v}`);
  console.log(`discovery: ${r.vms} VMs, median of ${r.runs} runs`);
  row('ours listVms() ms', r.ours_ms.toFixed(1));
  row('ours connect+listVms+logout ms', r.ours_with_login_ms.toFixed(1));
  row('govc object.collect -json ms', r.govc_ms.toFixed(1));
  row('ratio ours/govc (≤ 1.0 is better)', r.ratio.toFixed(2));
  row('target: ours < 1000 ms', r.ours_ms < 1000 ? 'met' : 'MISSED');
}
