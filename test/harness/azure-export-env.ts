// What an Azure export test needs: Azurite holding a VM's managed disks as page
// blobs (random data at known ranges, long unwritten gaps), the Resource Manager
// stand-in (azure-arm-fake.ts) describing that VM, a counting relay in front of
// Azurite that the SAS URLs name, a worker in the test process whose Azure
// credential chain finds the stand-in's managed identity endpoint, a client, and
// workflow inputs with an Azure source.
import type { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { generateSecretsKey } from '../../src/config/secrets.js';
import type { HyperConfig } from '../../src/config/types.js';
import { DEFAULT_TASK_QUEUE, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { ArmFake, type FakeVm } from './azure-arm-fake.js';
import { startBlobCounter, type BlobCounter, type BlobCounterOptions } from './azure-blob-counter.js';
import { seedPageBlob, writeExpectedImage, type SeededBlob, type SeedRange } from './azure-seed.js';
import type { AzureServices } from './azure-services.js';
import { connectAzure } from '../../src/providers/azure/index.js';
import { createExportWorker } from '../../src/worker/create-worker.js';
import { exportInput, temporalClient, type RunningWorker } from './export-env.js';

export const SUBSCRIPTION = '6f1d2c3b-4a59-4e8f-9c0d-1a2b3c4d5e6f';
export const LOCATION = 'westeurope';
export const SIZES = [
  { name: 'Standard_D2s_v5', vCPUs: 2, memoryGB: 8 },
  { name: 'Standard_E4s_v5', vCPUs: 4, memoryGB: 32 },
];

export function azureWorkerConfig(azure: AzureServices): HyperConfig {
  const root = join(azure.workDir, 'exports');
  mkdirSync(root, { recursive: true });
  return {
    daemon: { addr: '127.0.0.1:0', dataDir: join(azure.workDir, 'daemon'), maxBodyBytes: 1 << 20 },
    temporal: {
      address: azure.temporal.address,
      namespace: azure.temporal.namespace,
      taskQueue: `${DEFAULT_TASK_QUEUE}-${randomBytes(4).toString('hex')}`,
      uiPort: 0,
    },
    vsphere: { profiles: {}, defaultProfile: 'default' },
    s3: {
      endpoint: azure.minio.endpoint,
      region: azure.minio.region,
      accessKeyId: azure.minio.accessKeyId,
      secretAccessKey: azure.minio.secretAccessKey,
      forcePathStyle: true,
      allowedBuckets: [azure.minio.bucket],
    },
    output: { allowedRoots: [root] },
    defaults: { method: 'auto', format: 'qcow2', parallelDownloads: 2, removeCdrom: false, snapshot: false, powerOff: false, shutdownTimeoutSeconds: 60 },
    secretsKey: generateSecretsKey(),
    logLevel: 'warn',
    worker: { maxConcurrentTransfers: 4, heartbeatIntervalMs: 1_000, identity: 'azure-test-worker', lostTimeoutMs: 600_000, restartWarningBytes: 1 << 30 },
    // Filled in once the stand-in listens (useAzureExports).
    azure: { resourceManagerEndpoint: 'https://127.0.0.1:1' },
  };
}

export interface AzureExportEnv {
  readonly config: HyperConfig;
  readonly fake: ArmFake;
  readonly relay: BlobCounter;
  readonly client: Client;
}

/**
 * For a test file that exports Azure VMs through one in-process worker: starts the
 * stand-in, the relay, the worker (its credential chain pointed at the stand-in's
 * identity endpoint through the environment) and a client before the tests, and
 * stops them after. With `worker: false` no worker is started (the test runs its own).
 */
export function useAzureExports(azure: AzureServices, options: { relay?: BlobCounterOptions; worker?: boolean } = {}): AzureExportEnv {
  const config = azureWorkerConfig(azure);
  let fake: ArmFake | undefined;
  let relay: BlobCounter | undefined;
  let worker: RunningWorker | undefined;
  let temporal: Awaited<ReturnType<typeof temporalClient>> | undefined;
  beforeAll(async () => {
    relay = await startBlobCounter(azure.blobEndpoint, options.relay);
    fake = await ArmFake.start({
      subscriptionId: SUBSCRIPTION,
      location: LOCATION,
      azurite: azure,
      sasBlobEndpoint: `${relay.origin}/${azure.account}`,
      pkiDir: join(azure.workDir, `arm-pki-${randomBytes(4).toString('hex')}`),
      sizes: SIZES,
    });
    Object.assign(process.env, fake.identityEnv());
    config.azure = { subscriptionId: SUBSCRIPTION, resourceManagerEndpoint: fake.endpoint, caFile: fake.caFile };
    if (options.worker !== false) worker = await startAzureWorker(config);
    temporal = await temporalClient(config);
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await fake?.close();
    await relay?.close();
  });
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`useAzureExports: the ${what} exists only inside tests`);
    return v;
  };
  return {
    config,
    get fake() {
      return need(fake, 'stand-in');
    },
    get relay() {
      return need(relay, 'relay');
    },
    get client() {
      return need(temporal, 'client').client;
    },
  };
}

/**
 * A worker in this process whose Azure provider polls Resource Manager's
 * long-running operations every 20 ms (the stand-in answers at once; Azure's
 * Retry-After would say seconds).
 */
export async function startAzureWorker(config: HyperConfig): Promise<RunningWorker> {
  const worker = await createExportWorker({ config, connectAzure: (o) => connectAzure({ ...o, pollIntervalMs: 20 }) });
  const done = worker.run();
  return {
    worker,
    done,
    async stop() {
      worker.shutdown();
      await done;
    },
  };
}

export interface SeedDisk {
  sizeBytes: number;
  ranges: readonly SeedRange[];
}

export interface SeededVm {
  vmId: string;
  name: string;
  resourceGroup: string;
  /** OS disk first, then the data disks by LUN. */
  disks: { name: string; id: string; seeded: SeededBlob; expected: string }[];
}

/**
 * A VM whose OS disk is disks[0] and whose data disks are the rest (LUN 0, 1, …),
 * each a page blob in Azurite registered with the stand-in; the expected raw image
 * of each is written under `dir`.
 */
export async function seedVm(
  azure: AzureServices,
  fake: ArmFake,
  o: { name: string; resourceGroup: string; disks: SeedDisk[]; dir: string; vm?: Partial<FakeVm> },
): Promise<SeededVm> {
  mkdirSync(o.dir, { recursive: true });
  const disks = await Promise.all(
    o.disks.map(async (d, i) => {
      const name = i === 0 ? `${o.name}_OsDisk_1` : `${o.name}_DataDisk_${i - 1}`;
      const seeded = await seedPageBlob(azure, { container: 'disks', blob: `${o.resourceGroup}-${name}.vhd`, diskBytes: d.sizeBytes, ranges: d.ranges });
      const id = fake.addDisk({ name, resourceGroup: o.resourceGroup, container: 'disks', blob: seeded.blob, sizeBytes: d.sizeBytes, hyperVGeneration: 'V2' });
      return { name, id, seeded, expected: await writeExpectedImage(seeded, join(o.dir, `${name}.expected.raw`)) };
    }),
  );
  const vmId = fake.addVm({
    name: o.name,
    resourceGroup: o.resourceGroup,
    vmSize: SIZES[0]!.name,
    powerState: 'running',
    osDisk: disks[0]!.name,
    dataDisks: disks.slice(1).map((d, lun) => ({ lun, disk: d.name })),
    nics: [`${o.name}-nic`],
    ...o.vm,
  });
  return { vmId, name: o.name, resourceGroup: o.resourceGroup, disks };
}

/** An export of `vmPath` in the test subscription into `directory` (qcow2 unless overridden), as the gateway would start it. */
export function azureExportInput(jobId: string, vmPath: string, directory: string, overrides: Parameters<typeof exportInput>[3] = {}): ExportWorkflowInput {
  return exportInput(jobId, vmPath, { kind: 'local', directory }, { format: 'qcow2', source: { provider: 'azure', subscriptionId: SUBSCRIPTION }, ...overrides });
}
