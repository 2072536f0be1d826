import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { childEnvironment } from '../core/child-env.js';
import { probeStatus } from './http-probe.js';
import { launch, waitUntilReady, type ManagedProcess } from './process.js';
import { freePort, retryOnPortClash } from './ports.js';
import { toolPath } from './tools.js';

export interface Vcsim {
  /** https://127.0.0.1:<port>/sdk */
  readonly sdkUrl: string;
  readonly host: string;
  readonly username: string;
  readonly password: string;
  /** Directory under which vcsim keeps its datastores (VM disk files live here). */
  readonly dataDir: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export interface VcsimOptions {
  workDir: string;
  username?: string;
  password?: string;
  /** VMs per resource pool (vcsim's -vm); the default model has 2 pools' worth plus 2 host VMs. */
  vmsPerPool?: number;
  hostsPerCluster?: number;
  clusters?: number;
  folders?: number;
  /** Start VMs powered on (vcsim's default); tests power some off with govc. */
  autostart?: boolean;
  extraArgs?: string[];
}

/** Starts vcsim, VMware's vSphere API simulator, on 127.0.0.1 with fixed credentials. */
export function startVcsim(options: VcsimOptions): Promise<Vcsim> {
  return retryOnPortClash(() => startVcsimOnce(options));
}

async function startVcsimOnce(options: VcsimOptions): Promise<Vcsim> {
  const port = await freePort();
  const username = options.username ?? 'hyper';
  const password = options.password ?? 'hyper-secret';
  const dataDir = join(options.workDir, 'vcsim-data');
  mkdirSync(dataDir, { recursive: true });
  const args = ['-l', `127.0.0.1:${port}`];
  if (options.vmsPerPool !== undefined) args.push('-vm', String(options.vmsPerPool));
  if (options.hostsPerCluster !== undefined) args.push('-host', String(options.hostsPerCluster));
  if (options.clusters !== undefined) args.push('-cluster', String(options.clusters));
  if (options.folders !== undefined) args.push('-folder', String(options.folders));
  if (options.autostart === false) args.push('-autostart=false');
  args.push(...(options.extraArgs ?? []));
  // vcsim creates its datastore directories under TMPDIR.
  const proc = launch('vcsim', toolPath('vcsim'), {
    args,
    // Credentials travel in the environment, never in argv (tools/vcsim).
    env: childEnvironment({ TMPDIR: dataDir, VCSIM_USERNAME: username, VCSIM_PASSWORD: password }),
    logFile: join(options.workDir, 'vcsim.log'),
  });
  const host = `127.0.0.1:${port}`;
  await waitUntilReady(proc, async () => ((await probeStatus(`https://${host}/about`)) === 200 ? true : undefined));
  return {
    sdkUrl: `https://${host}/sdk`,
    host,
    username,
    password,
    dataDir,
    process: proc,
    stop: () => proc.stop(),
  };
}
