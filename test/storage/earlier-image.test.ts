// An earlier export's image read back through its sink, as an incremental export
// reads it: from MinIO by ranged GETs held to the object's ETag, and from a local
// directory. qemu-img makes the qcow2 and says what its disk holds; the extents the
// source names and the bytes it reads are checked against that.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Extent } from '../../src/core/extent-source.js';
import { makeTempDir, MiB, qemuImg } from '../../src/formats/qcow2/test-support.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import { S3Sink } from '../../src/storage/s3-sink.js';
import type { OutputSink } from '../../src/storage/sink.js';
import { openEarlierImageSource, type EarlierImageSource } from '../../src/transfer/earlier-image-source.js';
import { minioClient } from '../harness/minio-client.js';

const VIRTUAL = 16 * MiB;
/** Data at the start, in the middle and at the very end; zeros between. */
const EXTENTS = [
  { offset: 0, data: randomBytes(MiB) },
  { offset: 7 * MiB, data: randomBytes(2 * MiB) },
  { offset: VIRTUAL - MiB, data: randomBytes(MiB) },
];

const tmp = makeTempDir('earlier-image');
afterAll(tmp.cleanup);

const { minio } = inject('services');
let client: S3Client;
let disk: Buffer;
let qcow2: Buffer;

beforeAll(async () => {
  client = minioClient({ minio });
  disk = Buffer.alloc(VIRTUAL);
  for (const { offset, data } of EXTENTS) data.copy(disk, offset);
  const raw = join(tmp.dir, 'disk.raw');
  await writeFile(raw, disk);
  const image = join(tmp.dir, 'disk.qcow2');
  await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, image);
  qcow2 = await readFile(image);
});
afterAll(() => client?.destroy());

async function s3With(name: string, body: Buffer): Promise<S3Sink> {
  const prefix = `earlier-${randomBytes(4).toString('hex')}/`;
  await client.send(new PutObjectCommand({ Bucket: minio.bucket, Key: `${prefix}${name}`, Body: body }));
  return new S3Sink({ client, bucket: minio.bucket, prefix });
}

async function open(sink: OutputSink, name: string, format: 'raw' | 'qcow2'): Promise<EarlierImageSource> {
  return openEarlierImageSource(await sink.openFinished(name), format);
}

async function extentsOf(source: EarlierImageSource): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of source.allocated(0, new AbortController().signal)) out.push({ offset: e.offset, length: e.length });
  return out;
}

/** The disk as the source reads it: its extents' bytes, zeros elsewhere. */
async function diskOf(source: EarlierImageSource): Promise<Buffer> {
  const out = Buffer.alloc(source.sizeBytes);
  for (const e of await extentsOf(source)) {
    for (let at = e.offset; at < e.offset + e.length; at += source.maxReadBytes) {
      const piece = { offset: at, length: Math.min(source.maxReadBytes, e.offset + e.length - at) };
      (await source.read(piece, new AbortController().signal)).copy(out, at);
    }
  }
  return out;
}

describe('an earlier image in S3', () => {
  it('reads a qcow2 object by its clusters: only the data extents, the same bytes as the disk', async () => {
    const source = await open(await s3With('vm-disk1.qcow2', qcow2), 'vm-disk1.qcow2', 'qcow2');
    try {
      expect(source.sizeBytes).toBe(VIRTUAL);
      const held = (await extentsOf(source)).reduce((n, e) => n + e.length, 0);
      expect(held).toBe(EXTENTS.reduce((n, e) => n + e.data.length, 0));
      expect((await diskOf(source)).equals(disk)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('reads clusters that follow each other in the object with one ranged GET, not one per cluster', async () => {
    const sink = await s3With('vm-disk1.qcow2', qcow2);
    const file = await sink.openFinished('vm-disk1.qcow2');
    const reads: number[] = [];
    const counted = { ...file, read: (b: Buffer, o: number, l: number, p: number) => (reads.push(l), file.read(b, o, l, p)) };
    const source = await openEarlierImageSource(counted, 'qcow2');
    try {
      reads.length = 0;
      const first = EXTENTS[0]!;
      expect((await source.read({ offset: first.offset, length: first.data.length }, new AbortController().signal)).equals(first.data)).toBe(true);
      // The region's L2 table, then the 16 clusters of 64 KiB in one request.
      expect(reads).toEqual([64 * 1024, first.data.length]);
    } finally {
      await source.close();
    }
  });

  it('reads a raw object whole, as one extent: an object has no holes to skip', async () => {
    const source = await open(await s3With('vm-disk1.raw', disk), 'vm-disk1.raw', 'raw');
    try {
      expect(await extentsOf(source)).toEqual([{ offset: 0, length: VIRTUAL }]);
      expect((await diskOf(source)).equals(disk)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('fails a read once the object was replaced, instead of mixing two versions', async () => {
    const sink = await s3With('vm-disk1.raw', disk);
    const file = await sink.openFinished('vm-disk1.raw');
    const buf = Buffer.alloc(MiB);
    expect((await file.read(buf, 0, MiB, 0)).bytesRead).toBe(MiB);
    expect(buf.equals(disk.subarray(0, MiB))).toBe(true);
    await client.send(new PutObjectCommand({ Bucket: minio.bucket, Key: sink.describe('vm-disk1.raw').replace(`s3://${minio.bucket}/`, ''), Body: randomBytes(VIRTUAL) }));
    await expect(file.read(buf, 0, MiB, 0)).rejects.toThrow(/changed while it was read back/);
  });

  it('answers ENOENT when the output holds no such image', async () => {
    const sink = await s3With('other.raw', disk);
    await expect(sink.openFinished('vm-disk1.qcow2')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('an earlier image in a local directory', () => {
  it('scans a raw file for its data: only the non-zero extents', async () => {
    const dir = join(tmp.dir, 'local');
    const sink = new LocalSink(dir);
    await sink.writeFile('vm-disk1.raw', disk);
    const source = await open(sink, 'vm-disk1.raw', 'raw');
    try {
      expect(await extentsOf(source)).toEqual(EXTENTS.map((e) => ({ offset: e.offset, length: e.data.length })));
      expect((await diskOf(source)).equals(disk)).toBe(true);
    } finally {
      await source.close();
      await sink.close();
    }
  });
});
