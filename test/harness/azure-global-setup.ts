// Starts the server of the azure project (test/azure): Azurite's blob service on
// 127.0.0.1 with a free port and a per-run account key, once per run; only this
// project pays for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startAzurite } from '../../src/devservices/azurite.js';
import type { AzureServices } from './azure-services.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-azure-'));
  let stop: (() => Promise<void>) | undefined;
  const stopAll = async () => {
    await stop?.();
    if (!process.env.HYPERSDK_KEEP_WORKDIR) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const azurite = await startAzurite({ workDir });
    stop = () => azurite.stop();
    const services: AzureServices = { workDir, blobEndpoint: azurite.blobEndpoint, account: azurite.account, accountKey: azurite.accountKey };
    project.provide('azure', services);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
