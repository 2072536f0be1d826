// A raw or vhd image uploaded to S3 (MinIO) as one stream, through the image
// writer the transfers use: a writer closed mid-way (what a kill leaves) is
// continued by a second one opened with its checkpoint, from the upload's last
// whole part and the SHA-256 state saved with it. The object is read back with the
// AWS SDK and judged by qemu-img and a SHA-256 of its own; a checkpoint whose hash
// state does not load starts the image over in the same upload. A streamOptimized
// VMDK decoded on the fly (qemu-img made it) uploads as raw too, without resume.
import { GetObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeTempDir, MiB, qemuImg } from '../../src/formats/qcow2/test-support.js';
import { openImageDiskWriter, type ImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { S3Sink } from '../../src/storage/s3-sink.js';
import type { ImageWriterState, WriterCommit } from '../../src/storage/sink.js';
import { minioClient } from '../harness/minio-client.js';

const PART = 5 * MiB;
const VIRTUAL = 24 * MiB;
/** Data at the start, in the middle and at the very end; zeros between. */
const EXTENTS = [
  { offset: 0, data: randomBytes(3 * MiB) },
  { offset: 9 * MiB + 4096, data: randomBytes(5 * MiB) },
  { offset: 20 * MiB, data: randomBytes(2 * MiB) },
  { offset: VIRTUAL - MiB, data: randomBytes(MiB) },
];

const tmp = makeTempDir('s3-raw-stream');
afterAll(tmp.cleanup);

/** Feeds the extents (the parts past `from`) to the writer, stopping before `until`. */
async function feedExtents(writer: ImageDiskWriter, from: number, until = VIRTUAL): Promise<void> {
  for (const { offset, data } of EXTENTS) {
    const end = offset + data.length;
    if (end <= from || offset >= until) continue;
    const start = Math.max(offset, from);
    await writer.writeAt(start, data.subarray(start - offset, Math.min(end, until) - offset));
  }
}

describe('raw and vhd images uploaded as one stream (MinIO)', () => {
  const { minio } = inject('services');
  let client: S3Client;
  let sourceRaw: string;
  beforeAll(async () => {
    client = minioClient({ minio });
    const disk = Buffer.alloc(VIRTUAL);
    for (const { offset, data } of EXTENTS) data.copy(disk, offset);
    sourceRaw = join(tmp.dir, 'source.raw');
    await writeFile(sourceRaw, disk);
  });
  afterAll(() => client.destroy());

  const newSink = () => {
    const prefix = `s3-raw-stream-${randomBytes(4).toString('hex')}/`;
    return { prefix, sink: new S3Sink({ client, bucket: minio.bucket, prefix, partSizeBytes: PART, queueSize: 2 }) };
  };

  async function download(key: string): Promise<{ path: string; sha256: string }> {
    const path = join(tmp.dir, key.replaceAll('/', '_'));
    const out = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: key }));
    await pipeline(out.Body as Readable, createWriteStream(path));
    return { path, sha256: createHash('sha256').update(await readFile(path)).digest('hex') };
  }

  async function openUploads(key: string): Promise<number> {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: minio.bucket, Prefix: key }));
    return (out.Uploads ?? []).filter((u) => u.Key === key).length;
  }

  /** Writes the first 14 MiB, checkpoints, and closes without finishing: what a kill -9 leaves. */
  async function interrupted(sink: S3Sink, name: string, format: 'raw' | 'vhd'): Promise<WriterCommit> {
    const first = await openImageDiskWriter(sink, { name, format, virtualSize: VIRTUAL, source: 'raw', stage: false });
    await feedExtents(first, 0, 14 * MiB);
    const commit = await first.commit();
    await first.close();
    return commit;
  }

  it.each(['raw', 'vhd'] as const)('a %s image continues from its last whole part, and its SHA-256 is the whole object\'s', async (format) => {
    const { prefix, sink } = newSink();
    const name = `disk.${format}`;
    const commit = await interrupted(sink, name, format);
    // Durable are whole parts only: 10 MiB of the 14 written.
    expect(commit.offset).toBe(2 * PART);
    const state = commit.state as ImageWriterState;
    expect(state).toMatchObject({ kind: 'image', format, stream: { hashState: expect.any(String) as unknown } });
    expect(Buffer.byteLength(JSON.stringify(state))).toBeLessThan(1024);

    const second = await openImageDiskWriter(sink, { name, format, virtualSize: VIRTUAL, source: 'raw', stage: false, checkpoint: { offset: commit.offset, sink: JSON.parse(JSON.stringify(commit.state)) as ImageWriterState } });
    expect(second.resumeOffset).toBe(commit.offset);
    await feedExtents(second, second.resumeOffset);
    await second.flush();
    const finished = await second.finish();
    await second.close();

    const object = await download(`${prefix}${name}`);
    expect(finished.sha256).toBe(object.sha256);
    const compare = await qemuImg('compare', '-f', format === 'vhd' ? 'vpc' : 'raw', '-F', 'raw', object.path, sourceRaw);
    expect(compare.stdout).toContain('Images are identical');
    expect(await openUploads(`${prefix}${name}`)).toBe(0);
  });

  it('a streamOptimized VMDK decoded on the fly uploads as raw, identical, with its checkpoints reporting progress only (a lease serves no ranges)', async () => {
    const { prefix, sink } = newSink();
    const vmdk = join(tmp.dir, 'source.vmdk');
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', sourceRaw, vmdk);
    const stream = await readFile(vmdk);
    const writer = await openImageDiskWriter(sink, { name: 'decoded.raw', format: 'raw', virtualSize: VIRTUAL, source: 'sniff', stage: false });
    for (let at = 0; at < stream.length; at += MiB) await writer.write(stream.subarray(at, at + MiB));
    const midway = (await writer.commit()).state as ImageWriterState;
    expect(midway).toMatchObject({ kind: 'image', encoding: 'vmdk-stream' });
    expect(midway.stream).toBeUndefined();
    await writer.flush();
    const finished = await writer.finish();
    await writer.close();

    const object = await download(`${prefix}decoded.raw`);
    expect(finished.sha256).toBe(object.sha256);
    expect(object.sha256).toBe(createHash('sha256').update(await readFile(sourceRaw)).digest('hex'));
  });

  it('a checkpoint whose hash state does not load starts the image over in the same upload, and the image is still right', async () => {
    const { prefix, sink } = newSink();
    const name = 'disk.raw';
    const commit = await interrupted(sink, name, 'raw');
    const state = commit.state as ImageWriterState;
    const broken = { offset: commit.offset, sink: { ...state, stream: { hashState: Buffer.from('not a hash state').toString('base64') } } };
    const second = await openImageDiskWriter(sink, { name, format: 'raw', virtualSize: VIRTUAL, source: 'raw', stage: false, checkpoint: broken });
    expect(second.resumeOffset).toBe(0);
    await feedExtents(second, 0);
    await second.flush();
    const finished = await second.finish();
    await second.close();

    const object = await download(`${prefix}${name}`);
    expect(finished.sha256).toBe(object.sha256);
    expect(object.sha256).toBe(createHash('sha256').update(await readFile(sourceRaw)).digest('hex'));
    expect(await openUploads(`${prefix}${name}`)).toBe(0);
  });
});
