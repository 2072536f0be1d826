// Incremental exports through the whole workflow: a full export of a snapshot,
// then an export of a later snapshot of the same volume naming the first one
// (since_snapshot). The relay in front of moto's EBS API counts the blocks read:
// the second export must fetch exactly the changed blocks, once each, and leave
// an image qemu-img finds identical to the new snapshot's volume and to a full
// export of it. The same into S3 (MinIO): the earlier image is read back from its
// object, the new one replaces it, and nothing of the job's staging stays behind;
// and into an OVA, whose earlier image is read inside the earlier archive.
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE, type ExportResult, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { ebsClient, ec2Client } from '../harness/aws-clients.js';
import { awsExportInput, awsWorkerConfig, pointAwsAt } from '../harness/aws-export-env.js';
import { EBS_BLOCK_SIZE, seedSnapshot, spacedBlockIndexes, type SeededSnapshot } from '../harness/aws-seed.js';
import { startBlockCounter, type BlockCounter } from '../harness/ebs-block-counter.js';
import { useWorkerAndClient } from '../harness/export-env.js';
import { minioClient } from '../harness/minio-client.js';

const aws = inject('aws');
const GiB = 2 ** 30;
const config = awsWorkerConfig(aws);
const root = config.output.allowedRoots[0]!;
// A worker in this process and a client, for the whole file (the AWS clients read the endpoint variables at the first export).
const exports = useWorkerAndClient(config);

let counter: BlockCounter;
let s3: S3Client;
let base: SeededSnapshot;
let next: SeededSnapshot;
/** The later snapshot's volume: the base's blocks, then the child's over them. */
let nextVolume: string;
let changed: number[];

beforeAll(async () => {
  counter = await startBlockCounter(aws.patched.endpoint);
  s3 = minioClient(aws);
  pointAwsAt(aws.patched.endpoint, counter.endpoint);
  const ebs = ebsClient(aws.patched);
  const ec2 = ec2Client(aws.patched);
  try {
    base = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: spacedBlockIndexes(120, 17) });
    // 1% of the volume's 2048 blocks: 10 rewritten, 10 written for the first time.
    changed = [...spacedBlockIndexes(10, 170, 17), ...spacedBlockIndexes(10, 100, 5)].sort((a, b) => a - b);
    next = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: changed, parentSnapshotId: base.snapshotId });
    // Snapshots of one volume carry its Name (CreateSnapshot copies the volume's tags):
    // the exports of both then have the same file names, as a warm migration's do.
    await ec2.send(new CreateTagsCommand({ Resources: [base.snapshotId, next.snapshotId], Tags: [{ Key: 'Name', Value: 'inc-volume' }] }));
  } finally {
    ebs.destroy();
    ec2.destroy();
  }
  nextVolume = await writeVolume([base, next], 'next-volume.raw');
}, 120_000);

let baseVolumePath: Promise<string> | undefined;
/** The base snapshot's volume, written once when a test first needs it. */
function baseVolume(): Promise<string> {
  baseVolumePath ??= writeVolume([base], 'base-volume.raw');
  return baseVolumePath;
}

afterAll(async () => {
  await counter?.close();
  s3?.destroy();
});

async function writeVolume(layers: SeededSnapshot[], name: string): Promise<string> {
  const path = join(root, name);
  const fh = await open(path, 'w');
  await fh.truncate(GiB);
  for (const layer of layers) for (const [index, data] of layer.written) await fh.write(data, 0, data.length, index * EBS_BLOCK_SIZE);
  await fh.close();
  return path;
}

function run(client: Client, input: ExportWorkflowInput): Promise<ExportResult> {
  return client.workflow.execute(EXPORT_WORKFLOW_TYPE, { taskQueue: config.temporal.taskQueue, workflowId: input.jobId, args: [input] });
}

function diskOf(result: ExportResult, format: string): string {
  const disk = result.files.find((f) => f.name.endsWith(`.${format}`));
  if (!disk) throw new Error(`no .${format} disk in ${result.files.map((f) => f.name).join(', ')}`);
  return join(result.outputDir, disk.name);
}

async function expectManifestHolds(result: ExportResult, path: string): Promise<void> {
  const sha = createHash('sha256').update(await readFile(path)).digest('hex');
  const manifest = await readFile(result.manifestPath, 'utf8');
  expect(manifest).toContain(sha);
}

describe.each(['qcow2', 'raw', 'vhd'] as const)('incremental export to %s', (format) => {
  // qemu calls a VHD's driver vpc; an earlier vhd is read back as the disk before its footer.
  const driver = format === 'vhd' ? 'vpc' : format;
  it('fetches only the changed blocks and yields the new snapshot, identical to a full export of it', async () => {
    const dir = join(root, `incremental-${format}`);
    const fullDir = join(root, `full-${format}`);
    mkdirSync(dir, { recursive: true });
    mkdirSync(fullDir, { recursive: true });
    const id = `inc-${format}-${Date.now()}`;

    counter.reset();
    const first = await run(exports.client, awsExportInput(`${id}-base`, base.snapshotId, dir, aws.patched.region, { format }));
    expect(counter.reads(base.snapshotId).sort((a, b) => a - b)).toEqual([...base.written.keys()].sort((a, b) => a - b));
    const image = diskOf(first, format);

    counter.reset();
    const second = await run(
      exports.client,
      awsExportInput(`${id}-next`, next.snapshotId, dir, aws.patched.region, { format, options: { sinceSnapshot: base.snapshotId } }),
    );
    expect(second.sinceSnapshot).toBe(base.snapshotId);
    // Exactly the changed blocks, once each; nothing of the base snapshot.
    expect(counter.reads(next.snapshotId).sort((a, b) => a - b)).toEqual(changed);
    expect(counter.reads(base.snapshotId)).toEqual([]);
    // The incremental disk has the same name as the first export's: it replaced it.
    expect(diskOf(second, format)).toBe(image);
    expect((await qemuImg('compare', '-f', driver, '-F', 'raw', image, nextVolume)).stdout).toContain('Images are identical');
    await expectManifestHolds(second, image);

    const full = await run(exports.client, awsExportInput(`${id}-full`, next.snapshotId, fullDir, aws.patched.region, { format }));
    expect((await qemuImg('compare', '-f', driver, '-F', driver, image, diskOf(full, format))).stdout).toContain('Images are identical');
  }, 180_000);
});

// An OVA holds its disk inside the archive: the incremental export reads the
// earlier image where it lies in the earlier OVA (tar headers walked, no copy),
// and the new OVA replaces the old one. GNU tar unpacks it for qemu-img to judge.
it('incremental export to an OVA: the disk packed in the earlier archive is the base, and the new archive holds the new snapshot', async () => {
  const dir = join(root, 'incremental-ova');
  mkdirSync(dir, { recursive: true });
  const id = `inc-ova-${Date.now()}`;
  const first = await run(exports.client, awsExportInput(`${id}-base`, base.snapshotId, dir, aws.patched.region, { format: 'ova', diskImage: 'qcow2' }));
  expect(first.ovaPath).toBeDefined();
  const before = readdirSync(dir).sort();

  counter.reset();
  const second = await run(
    exports.client,
    awsExportInput(`${id}-next`, next.snapshotId, dir, aws.patched.region, { format: 'ova', diskImage: 'qcow2', options: { sinceSnapshot: base.snapshotId } }),
  );
  expect(counter.reads(next.snapshotId).sort((a, b) => a - b)).toEqual(changed);
  expect(counter.reads(base.snapshotId)).toEqual([]);
  expect(second.ovaPath).toBe(first.ovaPath);
  // The archive replaced the old one; nothing staged or unpacked is left beside it.
  expect(readdirSync(dir).sort()).toEqual(before);

  const unpacked = join(root, 'incremental-ova-unpacked');
  mkdirSync(unpacked, { recursive: true });
  execFileSync('tar', ['-xf', second.ovaPath!, '-C', unpacked]);
  const disk = readdirSync(unpacked).find((f) => f.endsWith('.qcow2'));
  expect(disk, readdirSync(unpacked).join(', ')).toBeDefined();
  expect((await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', join(unpacked, disk!), nextVolume)).stdout).toContain('Images are identical');
  const manifest = await readFile(join(unpacked, readdirSync(unpacked).find((f) => f.endsWith('.mf'))!), 'utf8');
  expect(manifest).toContain(createHash('sha256').update(await readFile(join(unpacked, disk!))).digest('hex'));
}, 180_000);

// qcow2 only: its map says which clusters to read back. A raw or VHD object has no
// holes, so all of it is read back (1 GiB here: a minute against MinIO on this
// machine); earlier-image-source.test.ts covers that choice.
describe.each(['qcow2'] as const)('incremental export to %s in S3', (format) => {
  async function download(key: string, path: string): Promise<string> {
    const object = await s3.send(new GetObjectCommand({ Bucket: aws.minio.bucket, Key: key }));
    await pipeline(object.Body as Readable, createWriteStream(path));
    return path;
  }

  it("reads the earlier image back from its object, fetches only the changed blocks, and replaces it with the new snapshot's image", async () => {
    const prefix = `incremental-${format}-${Date.now()}/`;
    const id = `inc-s3-${format}-${Date.now()}`;
    const toS3 = { format, sink: { kind: 's3' as const, bucket: aws.minio.bucket, prefix }, outputPath: `s3://${aws.minio.bucket}/${prefix}` };

    const first = await run(exports.client, awsExportInput(`${id}-base`, base.snapshotId, '/unused', aws.patched.region, toS3));
    const name = first.files.find((f) => f.name.endsWith(`.${format}`))!.name;
    expect((await qemuImg('compare', '-f', format, '-F', 'raw', await download(`${prefix}${name}`, join(root, `${id}-base.${format}`)), await baseVolume())).stdout).toContain(
      'Images are identical',
    );

    counter.reset();
    const second = await run(
      exports.client,
      awsExportInput(`${id}-next`, next.snapshotId, '/unused', aws.patched.region, { ...toS3, options: { sinceSnapshot: base.snapshotId } }),
    );
    expect(counter.reads(next.snapshotId).sort((a, b) => a - b)).toEqual(changed);
    expect(counter.reads(base.snapshotId)).toEqual([]);
    const disk = second.files.find((f) => f.name.endsWith(`.${format}`))!;
    expect(disk.name).toBe(name);
    const image = await download(`${prefix}${name}`, join(root, `${id}-next.${format}`));
    expect((await qemuImg('compare', '-f', format, '-F', 'raw', image, nextVolume)).stdout).toContain('Images are identical');
    const sha = createHash('sha256').update(await readFile(image)).digest('hex');
    expect(disk.sha256).toBe(sha);
    const manifest = second.files.find((f) => f.name.endsWith('.mf'))!.name;
    expect(await readFile(await download(`${prefix}${manifest}`, join(root, `${id}.mf`)), 'utf8')).toContain(`SHA256(${name})= ${sha}`);
    // The export's files and nothing else: no staged image, record or upload left under the prefix.
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: aws.minio.bucket, Prefix: prefix }));
    expect((listed.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort()).toEqual(second.files.map((f) => f.name).sort());
  }, 180_000);
});

describe('incremental export refusals', () => {
  it('refuses since_snapshot when the output holds no earlier export to update, naming the field', async () => {
    const dir = join(root, 'incremental-empty');
    mkdirSync(dir, { recursive: true });
    const input = awsExportInput(`inc-empty-${Date.now()}`, next.snapshotId, dir, aws.patched.region, { options: { sinceSnapshot: base.snapshotId } });
    const failure = await run(exports.client, input).then(
      () => undefined,
      (err: unknown) => err as { cause?: { type?: string; message?: string } },
    );
    expect(failure?.cause?.type).toBe('InvalidInput');
    expect(failure?.cause?.message).toMatch(/since_snapshot: there is no earlier export's .*\.qcow2/);
  }, 60_000);
});
