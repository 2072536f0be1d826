import { join } from 'node:path';
import { probeStatus } from './http-probe.js';
import { launch, waitUntilReady, type ManagedProcess } from './process.js';
import { freePort, retryOnPortClash } from './ports.js';
import { toolPath } from './tools.js';

export interface Toxiproxy {
  /** http://127.0.0.1:<port>: toxiproxy's admin API. */
  readonly apiUrl: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts toxiproxy-server on 127.0.0.1; proxies and toxics are created through its API. */
export function startToxiproxy(options: { workDir: string }): Promise<Toxiproxy> {
  return retryOnPortClash(() => startToxiproxyOnce(options));
}

async function startToxiproxyOnce(options: { workDir: string }): Promise<Toxiproxy> {
  const port = await freePort();
  const proc = launch('toxiproxy', toolPath('toxiproxy-server'), {
    args: ['-host', '127.0.0.1', '-port', String(port)],
    logFile: join(options.workDir, 'toxiproxy.log'),
  });
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(proc, async () => ((await probeStatus(`${apiUrl}/version`)) === 200 ? true : undefined));
  return { apiUrl, process: proc, stop: () => proc.stop() };
}
