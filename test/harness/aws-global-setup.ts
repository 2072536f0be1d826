// Starts the servers of the aws project (test/aws): two moto servers, one patched, one
// as released, a Temporal dev server for the exports and a MinIO for their S3
// outputs, on 127.0.0.1 with free ports, once per run; only this project pays for them.
// HYPERSDK_MOTO_WITHOUT=<patch>[,<patch>] leaves patches out of the patched server,
// to watch the test of each patch fail without it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { MOTO_PATCHES, startMoto, type MotoPatch } from '../../src/devservices/moto.js';
import { startMinio } from '../../src/devservices/minio.js';
import { startTemporalDevServer } from '../../src/devservices/temporal.js';
import type { AwsServices } from './aws-services.js';
import { createBucket } from './minio-client.js';

function patchesLeftOut(value: string | undefined): MotoPatch[] {
  const names = (value ?? '').split(',').filter((name) => name !== '');
  const unknown = names.filter((name) => !(MOTO_PATCHES as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(
      `HYPERSDK_MOTO_WITHOUT: unknown patch(es) ${unknown.join(', ')}; the patches are ${MOTO_PATCHES.join(', ')}`,
    );
  return names as MotoPatch[];
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const without = patchesLeftOut(process.env.HYPERSDK_MOTO_WITHOUT);
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-aws-'));
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
    if (!process.env.HYPERSDK_KEEP_WORKDIR) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const [patched, unpatched, temporal, minio] = await Promise.all([
      startMoto({ workDir, without }).then((m) => (started.push(m), m)),
      startMoto({ workDir, without: 'all' }).then((m) => (started.push(m), m)),
      startTemporalDevServer({ logDir: workDir }).then((s) => (started.push(s), s)),
      startMinio({ workDir }).then((s) => (started.push(s), s)),
    ]);
    const bucket = 'hypersdk-aws-test';
    await createBucket(minio, bucket);
    const services: AwsServices = {
      workDir,
      patched: { endpoint: patched.endpoint, region: patched.region },
      unpatched: { endpoint: unpatched.endpoint, region: unpatched.region },
      patchesLeftOut: without,
      temporal: { address: temporal.address, namespace: temporal.namespace },
      minio: { endpoint: minio.endpoint, region: minio.region, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey, bucket },
    };
    project.provide('aws', services);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
