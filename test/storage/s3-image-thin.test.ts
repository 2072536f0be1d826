// A thin disk written as qcow2 to S3 (MinIO) through the image writer: its long
// zero run appends nothing to the upload, so the resume point would stay before
// the run until the next data. The writer completes the waiting part with stored
// zero clusters once the input runs far ahead, so checkpoints move through the
// run; a resume from one mid-run gives an image qemu-img finds identical.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { openImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { S3Sink } from '../../src/storage/s3-sink.js';
import type { DiskWriter, WriterCommit } from '../../src/storage/sink.js';
import { minioClient } from '../harness/minio-client.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const VIRTUAL = 768 * MiB;
const HEAD = randomBytes(3 * MiB);
const TAIL = randomBytes(MiB);
const ZEROS = Buffer.alloc(MiB);

/** 3 MiB of data, 764 MiB of zeros, 1 MiB of data: byte i of the disk, a MiB at a time. */
function chunkAt(offset: number): Buffer {
  if (offset < HEAD.length) return HEAD.subarray(offset, offset + MiB);
  if (offset >= VIRTUAL - TAIL.length) return TAIL;
  return ZEROS;
}

describe('a thin disk as qcow2 on S3', () => {
  const { minio } = inject('services');
  let client: S3Client;
  let dir: string;
  let raw: string;
  beforeAll(async () => {
    client = minioClient({ minio });
    dir = await mkdtemp(join(tmpdir(), 'hyper-s3-thin-'));
    raw = join(dir, 'disk.raw');
    const fh = await open(raw, 'w');
    await fh.truncate(VIRTUAL);
    await fh.write(HEAD, 0, HEAD.length, 0);
    await fh.write(TAIL, 0, TAIL.length, VIRTUAL - TAIL.length);
    await fh.close();
  });
  afterAll(async () => {
    client.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  async function feed(writer: DiskWriter, from: number, to: number, commits: WriterCommit[]): Promise<void> {
    for (let at = from; at < to; at += MiB) {
      await writer.write(chunkAt(at));
      if ((at / MiB) % 32 === 31) commits.push(JSON.parse(JSON.stringify(await writer.commit())) as WriterCommit);
    }
  }

  it('checkpoints move through the zero run, a resume from one mid-run ends identical, and few zeros are stored', async () => {
    const prefix = `s3-thin-${randomBytes(4).toString('hex')}/`;
    const sink = new S3Sink({ client, bucket: minio.bucket, prefix, partSizeBytes: PART, queueSize: 2 });
    const options = { name: 'disk.qcow2', format: 'qcow2' as const, virtualSize: VIRTUAL, source: 'raw' as const, stage: false };
    const first = await openImageDiskWriter(sink, options);
    const commits: WriterCommit[] = [];
    await feed(first, 0, 600 * MiB, commits);
    await first.close(); // the kill: what waits for the next part is gone
    const offsets = commits.map((c) => c.offset);
    // Without completing parts the resume point stays at 0 for the whole run.
    const mid = commits.filter((c) => c.offset >= 256 * MiB).at(-1);
    expect(mid, `commit offsets ${offsets.join(', ')}`).toBeDefined();
    expect(JSON.stringify(mid).length).toBeLessThan(64 * 1024);

    const second = await openImageDiskWriter(sink, { ...options, checkpoint: { offset: mid!.offset, sink: mid!.state } });
    expect(second.resumeOffset).toBe(mid!.offset);
    await feed(second, second.resumeOffset, VIRTUAL, []);
    await second.flush();
    await second.commit();
    const done = await second.finish();
    await second.close();

    const local = join(dir, 'downloaded.qcow2');
    const got = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: `${prefix}disk.qcow2` }));
    await pipeline(got.Body as Readable, createWriteStream(local));
    const { storedDataBytes } = await expectValidCopy(local, raw, VIRTUAL);
    expect(done.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The data, plus at most a part and a cluster of zeros per 256 MiB the input ran ahead.
    const bound = HEAD.length + TAIL.length + Math.ceil(VIRTUAL / (256 * MiB)) * (PART + 2 * 64 * 1024);
    console.log(`thin qcow2 on S3: commit offsets (MiB) ${offsets.map((o) => Math.round(o / MiB)).join(', ')}; stored ${(storedDataBytes / MiB).toFixed(1)} MiB of ${VIRTUAL / MiB} MiB`);
    expect(storedDataBytes).toBeLessThanOrEqual(bound);
    expect((await qemuImg('check', local)).code).toBe(0);
  });
});
