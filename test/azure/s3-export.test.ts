// An Azure VM exported straight into S3 (MinIO): each managed disk's snapshot read
// through GrantAccess goes into a multipart upload, nothing staged locally. The
// objects are read back with the AWS SDK (not the project's sink) and judged by
// qemu-img against the seeded disks; the manifest object names each disk's SHA-256,
// which must be the downloaded object's. qcow2 (only allocated clusters go up) and
// vhd (holes go up as zeros, then the footer).
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { azureExportInput, seedVm, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';

const azure = inject('azure');
const env = useAzureExports(azure);
const root = () => env.config.output.allowedRoots[0]!;
const MiB = 2 ** 20;

let vm: SeededVm;
let s3: S3Client;

beforeAll(async () => {
  s3 = new S3Client({
    endpoint: azure.minio.endpoint,
    region: azure.minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: azure.minio.accessKeyId, secretAccessKey: azure.minio.secretAccessKey },
  });
  vm = await seedVm(azure, env.fake, {
    name: 'tos3',
    resourceGroup: 'rg-s3',
    dir: join(root(), 'expected-s3'),
    disks: [
      { sizeBytes: 24 * MiB, ranges: [{ offset: 0, length: MiB }, { offset: 9 * MiB + 512, length: 3 * MiB }, { offset: 24 * MiB - 4096, length: 4096 }] },
      { sizeBytes: 16 * MiB, ranges: [{ offset: 5 * MiB, length: 2 * MiB }] },
    ],
  });
}, 60_000);

afterAll(() => {
  s3?.destroy();
});

async function download(key: string, path: string): Promise<void> {
  const object = await s3.send(new GetObjectCommand({ Bucket: azure.minio.bucket, Key: key }));
  await pipeline(object.Body as Readable, createWriteStream(path));
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe.each([
  { format: 'qcow2', qemu: 'qcow2' },
  { format: 'vhd', qemu: 'vpc' },
] as const)('an Azure VM exported to S3 as $format', ({ format, qemu }) => {
  it('uploads each disk as an image identical to it, the manifest naming its SHA-256, and removes its snapshots', async () => {
    const prefix = `azure-${format}-${Date.now()}/`;
    const jobId = `azure-s3-${format}-${Date.now()}`;
    const input = azureExportInput(jobId, vm.vmId, '/unused', {
      format,
      sink: { kind: 's3', bucket: azure.minio.bucket, prefix },
      outputPath: `s3://${azure.minio.bucket}/${prefix}`,
    });
    const result = await env.client.workflow.execute<(i: ExportWorkflowInput) => Promise<ExportResult>>(EXPORT_WORKFLOW_TYPE, {
      taskQueue: env.config.temporal.taskQueue,
      workflowId: jobId,
      args: [input],
    });
    const disks = result.files.filter((f) => f.name.endsWith(`.${format}`));
    expect(disks).toHaveLength(2);
    const local = join(root(), jobId);
    mkdirSync(local, { recursive: true });
    const manifestName = result.files.find((f) => f.name.endsWith('.mf'))!.name;
    await download(`${prefix}${manifestName}`, join(local, manifestName));
    const manifest = await readFile(join(local, manifestName), 'utf8');
    for (const [i, disk] of disks.entries()) {
      const path = join(local, disk.name);
      await download(`${prefix}${disk.name}`, path);
      const info = JSON.parse((await qemuImg('info', '--output=json', '-f', qemu, path)).stdout) as { 'virtual-size': number };
      expect(info['virtual-size']).toBe(vm.disks[i]!.seeded.diskBytes);
      expect((await qemuImg('compare', '-f', qemu, '-F', 'raw', path, vm.disks[i]!.expected)).stdout).toContain('Images are identical');
      const sum = await sha256Of(path);
      expect(disk.sha256).toBe(sum);
      expect(manifest).toContain(`SHA256(${disk.name})= ${sum}`);
    }
    expect(env.fake.snapshotsTagged(`hypersdk-export-${jobId}`)).toEqual([]);
    expect(env.fake.deletedTagged(`hypersdk-export-${jobId}`)).toHaveLength(2);
  }, 120_000);
});
