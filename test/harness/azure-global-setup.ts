// Starts the servers of the azure project (test/azure): Azurite's blob service on
// 127.0.0.1 with a free port and a per-run account key, a Temporal dev server for
// the exports and a MinIO for their S3 outputs, once per run; only this project
// pays for them. The Resource
// Manager stand-in (azure-arm-fake.ts) is started by each test file that exports,
// in its own process, so that the file can read the stand-in's state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startAzurite } from '../../src/devservices/azurite.js';
import { startMinio } from '../../src/devservices/minio.js';
import { startTemporalDevServer } from '../../src/devservices/temporal.js';
import type { AzureServices } from './azure-services.js';
import { createBucket } from './minio-client.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-azure-'));
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
    if (!process.env.HYPERSDK_KEEP_WORKDIR) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const [azurite, temporal, minio] = await Promise.all([
      startAzurite({ workDir }).then((s) => (started.push(s), s)),
      startTemporalDevServer({ logDir: workDir }).then((s) => (started.push(s), s)),
      startMinio({ workDir }).then((s) => (started.push(s), s)),
    ]);
    const bucket = 'hypersdk-azure-test';
    await createBucket(minio, bucket);
    const services: AzureServices = {
      workDir,
      blobEndpoint: azurite.blobEndpoint,
      account: azurite.account,
      accountKey: azurite.accountKey,
      temporal: { address: temporal.address, namespace: temporal.namespace },
      minio: { endpoint: minio.endpoint, region: minio.region, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey, bucket },
    };
    project.provide('azure', services);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
