// Azurite (Microsoft's Azure Storage emulator, npm `azurite`, pinned in
// package.json) serving the blob API on 127.0.0.1 with a free port: the page
// blobs an Azure export reads. One account, named here, with a random key per run
// (never the emulator's well-known key): AZURITE_ACCOUNTS reaches Azurite through
// its environment, never its command line, so no other user sees the key in the
// process list.
import { existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { childEnvironment } from '../core/child-env.js';
import { probeStatus } from './http-probe.js';
import { launch, waitUntilReady, type ManagedProcess } from './process.js';
import { freePort, retryOnPortClash } from './ports.js';
import { projectRoot } from './tools.js';

export interface Azurite {
  /** http://127.0.0.1:<port>/<account>: the account's blob endpoint, path-style as Azurite serves it. */
  readonly blobEndpoint: string;
  readonly account: string;
  /** Base64 shared key of the account (random per run): signs SAS tokens. */
  readonly accountKey: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  workDir: string;
  /** Storage account name (3-24 lowercase letters and digits); default hypersdktest. */
  account?: string;
}

/** The azurite-blob launcher npm installed (a devDependency). */
export function azuriteBlobPath(): string {
  const path = join(projectRoot, 'node_modules', '.bin', 'azurite-blob');
  if (!existsSync(path)) throw new Error(`Azurite is not installed (looked for ${path}). Run 'npm install' (it is a devDependency).`);
  return path;
}

export function startAzurite(options: AzuriteOptions): Promise<Azurite> {
  return retryOnPortClash(() => startAzuriteOnce(options));
}

async function startAzuriteOnce(options: AzuriteOptions): Promise<Azurite> {
  const account = options.account ?? 'hypersdktest';
  if (!/^[a-z0-9]{3,24}$/.test(account)) throw new Error(`Azurite: '${account}' is not a storage account name (3-24 lowercase letters and digits)`);
  const accountKey = randomBytes(64).toString('base64');
  const port = await freePort();
  const dataDir = join(options.workDir, `azurite-${port}`);
  mkdirSync(dataDir, { recursive: true });
  const proc = launch('azurite', azuriteBlobPath(), {
    args: [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      dataDir,
      '--disableTelemetry',
      // The account is the first path segment, whatever the Host header says.
      '--disableProductStyleUrl',
      // No access log: its lines would carry the SAS signatures of the requests.
      '--silent',
    ],
    // The node that runs azurite-blob is found on PATH (kept by childEnvironment).
    env: childEnvironment({ AZURITE_ACCOUNTS: `${account}:${accountKey}` }),
    logFile: join(options.workDir, `azurite-${port}.log`),
  });
  const blobEndpoint = `http://127.0.0.1:${port}/${account}`;
  // Any HTTP answer means it listens (an anonymous list of containers is refused with 403).
  await waitUntilReady(proc, async () => ((await probeStatus(`${blobEndpoint}?comp=list`)) > 0 ? true : undefined));
  return { blobEndpoint, account, accountKey, process: proc, stop: () => proc.stop() };
}
