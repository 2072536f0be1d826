// An EC2 instance exported straight into S3 (MinIO): every disk read from its EBS
// snapshot goes into a multipart upload, nothing staged locally. qcow2 here: a raw
// image uploads its holes as zeros (1 GiB per volume) through the same S3 writer the
// vSphere tests cover. The objects are read back with the AWS SDK (not the
// project's sink) and judged by qemu-img against the seeded volumes; the manifest
// object names each disk's SHA-256. vhd too, from a one-volume instance: like raw,
// its holes go up as zeros, then the footer.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { fixedVhdFooterProblem, readVhdFooter, VHD_FOOTER_SIZE } from '../../src/core/vhd-footer.js';
import { awsExportInput, awsWorkerConfig, pointAwsAt } from '../harness/aws-export-env.js';
import { spacedBlockIndexes } from '../harness/aws-seed.js';
import { seedInstance, writeExpectedImage, type SeededInstance } from '../harness/aws-instance.js';
import { useWorkerAndClient } from '../harness/export-env.js';
import { minioClient } from '../harness/minio-client.js';

const aws = inject('aws');
const config = awsWorkerConfig(aws);
const root = config.output.allowedRoots[0]!;
// A worker in this process and a client, for the whole file (the AWS clients read the endpoint variables at the first export).
const exports = useWorkerAndClient(config);

let s3: S3Client;
let instance: SeededInstance;
let expected: string[];

beforeAll(async () => {
  pointAwsAt(aws.patched.endpoint, aws.patched.endpoint);
  s3 = minioClient(aws);
  instance = await seedInstance(aws.patched, {
    name: 's3-bound',
    volumes: [
      { sizeGiB: 1, blockIndexes: [0, 1, ...spacedBlockIndexes(12, 150, 7)] },
      { sizeGiB: 1, blockIndexes: spacedBlockIndexes(10, 200, 11) },
    ],
  });
  expected = await Promise.all(instance.volumes.map((v, i) => writeExpectedImage(v, join(root, `s3-volume-${i}.raw`))));
}, 120_000);

afterAll(() => {
  s3?.destroy();
});

async function download(key: string, path: string): Promise<void> {
  const object = await s3.send(new GetObjectCommand({ Bucket: aws.minio.bucket, Key: key }));
  await pipeline(object.Body as Readable, createWriteStream(path));
}

describe.each(['qcow2'] as const)('an instance exported to S3 as %s', (format) => {
  it('uploads each disk as an image identical to its volume, with the manifest naming its SHA-256', async () => {
    const prefix = `aws-${format}-${Date.now()}/`;
    const jobId = `aws-s3-${format}-${Date.now()}`;
    const input = awsExportInput(jobId, instance.instanceId, '/unused', aws.patched.region, {
      format,
      sink: { kind: 's3', bucket: aws.minio.bucket, prefix },
      outputPath: `s3://${aws.minio.bucket}/${prefix}`,
    });
    const result = await exports.client.workflow.execute<(i: typeof input) => Promise<ExportResult>>(EXPORT_WORKFLOW_TYPE, { taskQueue: config.temporal.taskQueue, workflowId: jobId, args: [input] });
    const disks = result.files.filter((f) => f.name.endsWith(`.${format}`));
    expect(disks).toHaveLength(2);
    const manifestKey = result.files.find((f) => f.name.endsWith('.mf'))!.name;
    const manifestPath = join(root, `${jobId}.mf`);
    await download(`${prefix}${manifestKey}`, manifestPath);
    const manifest = await readFile(manifestPath, 'utf8');
    for (const [i, disk] of disks.entries()) {
      const local = join(root, `${jobId}-${i}.${format}`);
      await download(`${prefix}${disk.name}`, local);
      expect((await qemuImg('compare', '-f', format, '-F', 'raw', local, expected[i]!)).stdout).toContain('Images are identical');
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(local)) hash.update(chunk as Buffer);
      const sha = hash.digest('hex');
      expect(disk.sha256).toBe(sha);
      expect(manifest).toContain(sha);
    }
  }, 120_000);
});

it('uploads a volume as a fixed VHD that qemu-img reads at its exact size, identical to the volume, its SHA-256 covering the footer', async () => {
  const one = await seedInstance(aws.patched, { name: 's3-vhd', volumes: [{ sizeGiB: 1, blockIndexes: [0, ...spacedBlockIndexes(8, 200, 13), 2047] }] });
  const source = await writeExpectedImage(one.volumes[0]!, join(root, 's3-vhd-volume.raw'));
  const prefix = `aws-vhd-${Date.now()}/`;
  const jobId = `aws-s3-vhd-${Date.now()}`;
  const input = awsExportInput(jobId, one.instanceId, '/unused', aws.patched.region, {
    format: 'vhd',
    sink: { kind: 's3', bucket: aws.minio.bucket, prefix },
    outputPath: `s3://${aws.minio.bucket}/${prefix}`,
  });
  const result = await exports.client.workflow.execute<(i: typeof input) => Promise<ExportResult>>(EXPORT_WORKFLOW_TYPE, { taskQueue: config.temporal.taskQueue, workflowId: jobId, args: [input] });
  const disks = result.files.filter((f) => f.name.endsWith('.vhd'));
  expect(disks.map((d) => d.name)).toEqual(['s3-vhd-disk1.vhd']);
  const size = 2 ** 30;
  expect(disks[0]!.sizeBytes).toBe(size + VHD_FOOTER_SIZE);
  const local = join(root, `${jobId}.vhd`);
  await download(`${prefix}${disks[0]!.name}`, local);
  const info = await qemuImg('info', '--output=json', '-f', 'vpc', local);
  expect((JSON.parse(info.stdout) as { 'virtual-size': number })['virtual-size']).toBe(size);
  expect((await qemuImg('compare', '-f', 'vpc', '-F', 'raw', local, source)).stdout).toContain('Images are identical');
  const footer = Buffer.alloc(VHD_FOOTER_SIZE);
  const fh = await open(local, 'r');
  await fh.read(footer, 0, VHD_FOOTER_SIZE, size);
  await fh.close();
  expect(fixedVhdFooterProblem(footer, size)).toBeUndefined();
  expect(readVhdFooter(footer).creatorApplication).toBe('win ');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(local)) hash.update(chunk as Buffer);
  const sha = hash.digest('hex');
  expect(disks[0]!.sha256).toBe(sha);
  const manifestName = result.files.find((f) => f.name.endsWith('.mf'))!.name;
  const manifestPath = join(root, `${jobId}.mf`);
  await download(`${prefix}${manifestName}`, manifestPath);
  expect(await readFile(manifestPath, 'utf8')).toContain(`SHA256(s3-vhd-disk1.vhd)= ${sha}`);
}, 240_000);
