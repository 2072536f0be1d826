import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseManifest } from '../../src/export/ovf.js';
import { minioClient } from '../harness/minio-client.js';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
const temporal = useWorkerAndClient(config);
const s3 = minioClient(services);

afterAll(() => {
  s3.destroy();
});

async function objectSha256(key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: services.minio.bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of res.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

describe('export to S3 (MinIO)', () => {
  it('uploads disks, OVF and manifest whose SHA-256 match the source, with no upload left open', async () => {
    const name = `s3vm-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 256 * MiB, poweredOn: true });
    const prefix = `exports/${name}/`;
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(
        `s3-${name}`,
        vm.path,
        { kind: 's3', bucket: services.minio.bucket, prefix },
        { options: { snapshot: true } },
      ),
    );
    const result = await handle.result();
    expect(result.outputDir).toBe(`s3://${services.minio.bucket}/${prefix}`);

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: services.minio.bucket, Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    expect(keys).toEqual([
      `${prefix}${name}-disk1.vmdk`,
      `${prefix}${name}-disk2.vmdk`,
      `${prefix}${name}.mf`,
      `${prefix}${name}.ovf`,
    ]);

    const diskHashes = await Promise.all(keys.filter((k) => k.endsWith('.vmdk')).map(objectSha256));
    expect(diskHashes.sort()).toEqual([...vm.hashes.values()].sort());

    const mf = await s3.send(
      new GetObjectCommand({ Bucket: services.minio.bucket, Key: `${prefix}${name}.mf` }),
    );
    const manifest = parseManifest(await mf.Body!.transformToString());
    expect(manifest.size).toBe(3);
    for (const [file, sha] of manifest) expect(await objectSha256(`${prefix}${file}`), file).toBe(sha);

    const uploads = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: services.minio.bucket, Prefix: prefix }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});
