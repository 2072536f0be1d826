// qcow2 images written straight to S3 (MinIO) through S3Sink.openImageFile: the
// qcow2 writer appends, the header goes last into the reserved head (part 1).
// qemu-img judges the downloaded objects against the raw sources, also after a
// kill (close without finish) and a resume, and after a resume that has to start
// over (upload aborted behind its back; a checkpoint whose resume needs reads).
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { feed, KiB, makeTempDir, MiB, randomBytes, randomSource, rng, writeRaw, type Source } from '../../src/formats/qcow2/test-support.js';
import { MAX_STATE_BYTES, Qcow2Writer, type Qcow2WriterState } from '../../src/formats/qcow2/index.js';
import { isImageNotReadable } from '../../src/storage/s3-image-file.js';
import { publishStagedImage } from '../../src/storage/s3-image-publish.js';
import { S3Sink } from '../../src/storage/s3-sink.js';
import type { FinishedFile, ImageFile, S3ImageWriterState, StagedDiskRecord, WriterState } from '../../src/storage/sink.js';
import { minioClient } from '../harness/minio-client.js';

const HEAD = 5 * MiB;
const PART = 5 * MiB;
const VIRTUAL = 96 * MiB;

const tmp = makeTempDir('s3-image');
afterAll(tmp.cleanup);

/** Data at the start, the middle and the end, long zero runs between (and inside the middle's gaps). */
function diskSource(seed: number, virtualSize = VIRTUAL): Source {
  const next = rng(seed);
  const middle = randomSource(virtualSize / 2 - 16 * MiB, seed + 1, 200, 256 * KiB);
  const endLength = 2 * MiB + 4096;
  return {
    virtualSize,
    extents: [
      { offset: 0, data: randomBytes(3 * MiB, next) },
      ...middle.extents.map((e) => ({ offset: e.offset + virtualSize / 4 + 4 * MiB, data: e.data })),
      { offset: virtualSize - endLength, data: randomBytes(endLength, next) },
    ],
  };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('S3 image file (MinIO)', () => {
  const { minio } = inject('services');
  let client: S3Client;
  beforeAll(() => {
    client = minioClient({ minio });
  });
  afterAll(() => client.destroy());

  const newSink = () => {
    const prefix = `s3-image-${cryptoRandomBytes(4).toString('hex')}/`;
    return { prefix, sink: new S3Sink({ client, bucket: minio.bucket, prefix, partSizeBytes: PART, queueSize: 2 }) };
  };

  async function download(key: string, file: string): Promise<void> {
    const out = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: key }));
    await pipeline(out.Body as Readable, createWriteStream(file));
  }

  async function keysUnder(prefix: string): Promise<string[]> {
    const out = await client.send(new ListObjectsV2Command({ Bucket: minio.bucket, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
  }

  /** Open uploads of these exact keys (MinIO lists uploads of one object name, not of a folder). */
  async function uploadsOf(...keys: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const key of keys) {
      const out = await client.send(new ListMultipartUploadsCommand({ Bucket: minio.bucket, Prefix: key }));
      found.push(...(out.Uploads ?? []).filter((u) => u.Key === key).map((u) => u.UploadId ?? ''));
    }
    return found;
  }
  const hiddenKey = (prefix: string, name: string) => `${prefix}.hypersdk/${name}.image`;

  async function rawOf(source: Source, name: string): Promise<string> {
    const raw = join(tmp.dir, `${name}.raw`);
    await writeRaw(source, raw);
    return raw;
  }

  const record = (img: ImageFile, bytes: number, sha: string): StagedDiskRecord => ({
    version: 1,
    jobId: 'job-1',
    verified: true,
    bytes,
    sha256: sha,
    source: { disk: 1 },
    sinkState: img.state(),
    updatedAt: new Date().toISOString(),
  });

  it('a staged qcow2 publishes to its final key: qemu-img finds it identical, sha256() is the object\'s, nothing hidden or open is left', async () => {
    const { prefix, sink } = newSink();
    const source = diskSource(11);
    const raw = await rawOf(source, 'staged');
    const img = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, sizeHint: VIRTUAL, stage: true });
    expect(img.randomAccess).toBe(false);
    const writer = await Qcow2Writer.create(img, { virtualSize: VIRTUAL, headBytes: HEAD, compactStateBytes: MAX_STATE_BYTES });
    await feed(writer, source, 0, VIRTUAL, rng(5), 256 * KiB);
    const { fileLength } = await writer.finish();
    const finished = await img.finish();
    expect(finished.sizeBytes).toBe(fileLength);
    const state = img.state() as S3ImageWriterState;
    expect(state.completed?.bytes).toBe(fileLength);
    expect(state.partsDone).toBeGreaterThan(3); // the head and several 5 MiB parts
    expect(Buffer.byteLength(JSON.stringify(state))).toBeLessThan(1024);
    const sha = await img.sha256();
    await img.close();
    expect(await sink.listComplete()).toEqual([]); // the hidden object is not a file of the export
    expect(await sink.existing(['disk.qcow2'])).toEqual([]);

    await sink.writeStaged('disk.qcow2', record(img, finished.sizeBytes, sha));
    const published = await sink.publish('disk.qcow2');
    expect(published).toMatchObject({ name: 'disk.qcow2', sizeBytes: fileLength, uri: sink.describe('disk.qcow2') });
    const file = join(tmp.dir, 'staged.qcow2');
    await download(`${prefix}disk.qcow2`, file);
    expect(sha256(await readFile(file))).toBe(sha); // independent of the sink's hashing
    await expectValidCopy(file, raw, VIRTUAL);
    expect(await keysUnder(prefix)).toEqual([`${prefix}disk.qcow2`]); // no hidden object, no record
    expect(await uploadsOf(`${prefix}disk.qcow2`, hiddenKey(prefix, 'disk.qcow2'))).toEqual([]);
    expect(await sink.listComplete()).toEqual(['disk.qcow2']);

    // A retry after the copy, the record not yet deleted: the final object is recognised as the copy.
    await sink.writeStaged('disk.qcow2', record(img, finished.sizeBytes, sha));
    await expect(sink.publish('disk.qcow2')).resolves.toMatchObject({ sizeBytes: fileLength });
    expect(await keysUnder(prefix)).toEqual([`${prefix}disk.qcow2`]);
    await sink.remove('disk.qcow2');
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('killed after a checkpoint (close without finish), resumed from the compact states: only the durable parts are kept, the image is identical', async () => {
    const { prefix, sink } = newSink();
    const source = diskSource(12);
    const raw = await rawOf(source, 'resume');
    const next = rng(7);
    const first = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, sizeHint: VIRTUAL });
    const writer = await Qcow2Writer.create(first, { virtualSize: VIRTUAL, headBytes: HEAD, compactStateBytes: MAX_STATE_BYTES });
    await feed(writer, source, 0, 40 * MiB + 123, next, 256 * KiB);
    const checkpoint = roundTrip(await writer.checkpoint());
    const fileState = roundTrip(first.state()) as S3ImageWriterState;
    // The checkpoint claims exactly the parts UploadPart confirmed, no byte still waiting in memory.
    expect(checkpoint.fileLength).toBe(first.durableLength!());
    expect(fileState.partsDone).toBeGreaterThanOrEqual(2);
    expect(checkpoint.resumeOffset).toBeLessThan(writer.receivedOffset);
    await feed(writer, source, 40 * MiB + 123, 60 * MiB, next, 256 * KiB);
    await first.datasync(); // the parts still uploading when feed() returned
    expect(first.durableLength!()).toBeGreaterThan(checkpoint.fileLength); // parts uploaded after the checkpoint
    await first.close(); // the kill: the waiting bytes are gone, the upload stays

    const second = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, sizeHint: VIRTUAL, resume: fileState });
    expect((await second.stat()).size).toBe(checkpoint.fileLength);
    expect((second.state() as S3ImageWriterState).uploadId).toBe(fileState.uploadId);
    const resumed = await Qcow2Writer.resume(second, checkpoint, { compactStateBytes: MAX_STATE_BYTES });
    await feed(resumed, source, checkpoint.resumeOffset, VIRTUAL, next, 256 * KiB);
    await resumed.finish();
    await second.finish();
    const file = join(tmp.dir, 'resume.qcow2');
    await download(`${prefix}disk.qcow2`, file);
    await expectValidCopy(file, raw, VIRTUAL);
    expect(await second.sha256()).toBe(sha256(await readFile(file)));
    await second.close();
    expect(await uploadsOf(`${prefix}disk.qcow2`)).toEqual([]);
  });

  /** Resumes the qcow2 writer when the file kept what the checkpoint counted, else starts the image over. */
  async function resumeOrRestart(img: ImageFile, checkpoint: Qcow2WriterState): Promise<{ writer: Qcow2Writer; from: number }> {
    if ((await img.stat()).size >= checkpoint.fileLength) {
      try {
        return { writer: await Qcow2Writer.resume(img, checkpoint), from: checkpoint.resumeOffset };
      } catch (err) {
        if (!isImageNotReadable(err)) throw err;
      }
    }
    await img.truncate(0);
    const writer = await Qcow2Writer.create(img, { virtualSize: checkpoint.virtualSize, clusterBits: checkpoint.clusterBits, headBytes: HEAD });
    return { writer, from: 0 };
  }

  it('a resume whose upload was aborted behind its back starts a new upload from zero, and the image is still identical', async () => {
    const { prefix, sink } = newSink();
    const source = diskSource(13);
    const raw = await rawOf(source, 'aborted');
    const next = rng(8);
    const first = await sink.openImageFile('disk.qcow2', { headBytes: HEAD });
    const writer = await Qcow2Writer.create(first, { virtualSize: VIRTUAL, headBytes: HEAD });
    await feed(writer, source, 0, 50 * MiB, next, 256 * KiB);
    const checkpoint = roundTrip(await writer.checkpoint());
    const fileState = roundTrip(first.state()) as S3ImageWriterState;
    expect(checkpoint.fileLength).toBeGreaterThan(HEAD);
    await first.close();
    await client.send(new AbortMultipartUploadCommand({ Bucket: minio.bucket, Key: fileState.key, UploadId: fileState.uploadId }));

    const second = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, resume: fileState });
    expect((second.state() as S3ImageWriterState).uploadId).not.toBe(fileState.uploadId);
    expect((await second.stat()).size).toBe(HEAD); // nothing but the reserved head
    const { writer: again, from } = await resumeOrRestart(second, checkpoint);
    expect(from).toBe(0);
    await feed(again, source, from, VIRTUAL, next, 256 * KiB);
    await again.finish();
    await second.finish();
    const file = join(tmp.dir, 'aborted.qcow2');
    await download(`${prefix}disk.qcow2`, file);
    await expectValidCopy(file, raw, VIRTUAL);
    await second.close();
    expect(await uploadsOf(`${prefix}disk.qcow2`)).toEqual([]);
  });

  it('a checkpoint in the one-bit-per-region form cannot resume on S3 (its L2 tables are unreadable): refused before any change, the image starts over cleanly', async () => {
    const { prefix, sink } = newSink();
    const virtualSize = 64 * MiB;
    const source = diskSource(14, virtualSize);
    const raw = await rawOf(source, 'presence');
    const next = rng(9);
    const first = await sink.openImageFile('disk.qcow2', { headBytes: HEAD });
    // 4 KiB clusters: 2 MiB regions, so regions close (and write L2 tables) early; compactStateBytes 0 forces the bit form.
    const writer = await Qcow2Writer.create(first, { virtualSize, clusterBits: 12, headBytes: HEAD, compactStateBytes: 0 });
    await feed(writer, source, 0, 40 * MiB, next, 256 * KiB);
    const checkpoint = roundTrip(await writer.checkpoint());
    expect(checkpoint.closedEncoding).toBe('presence');
    expect(checkpoint.closedRegions).toBeGreaterThan(0);
    const fileState = roundTrip(first.state());
    await first.close();

    const second = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, resume: fileState });
    expect((await second.stat()).size).toBe(checkpoint.fileLength); // the parts are there...
    const refused = await Qcow2Writer.resume(second, checkpoint).catch((err: unknown) => err);
    expect(isImageNotReadable(refused)).toBe(true); // ...but cannot be read back
    expect((refused as Error).message).toMatch(/cannot be read back/);
    expect((await second.stat()).size).toBe(checkpoint.fileLength); // refused before truncating anything
    const { writer: again, from } = await resumeOrRestart(second, checkpoint);
    expect(from).toBe(0);
    await feed(again, source, 0, virtualSize, next, 256 * KiB);
    await again.finish();
    await second.finish();
    const file = join(tmp.dir, 'presence.qcow2');
    await download(`${prefix}disk.qcow2`, file);
    await expectValidCopy(file, raw, virtualSize);
    await second.close();
  });

  it('truncate to a durable part end drops the parts after it (re-sent under the same numbers); the head becomes part 1', async () => {
    const { prefix, sink } = newSink();
    const img = await sink.openImageFile('blob.img', { headBytes: HEAD });
    const a = cryptoRandomBytes(6 * MiB);
    const b = cryptoRandomBytes(6 * MiB);
    const c = cryptoRandomBytes(6 * MiB);
    const d = cryptoRandomBytes(3 * MiB + 5);
    await img.writev([a.subarray(0, MiB), a.subarray(MiB)], HEAD);
    await img.writev([b], HEAD + 6 * MiB);
    await img.writev([c.subarray(0, 2 * MiB)], HEAD + 12 * MiB); // waits in memory: under a part
    await img.datasync();
    expect(img.durableLength!()).toBe(HEAD + 12 * MiB);
    expect((await img.stat()).size).toBe(HEAD + 14 * MiB);
    await img.truncate(HEAD + 6 * MiB); // keeps part 2 (a), drops part 3 (b) and the waiting bytes
    expect((await img.stat()).size).toBe(HEAD + 6 * MiB);
    expect((img.state() as S3ImageWriterState).partsDone).toBe(2);
    await img.writev([c], HEAD + 6 * MiB);
    await img.writev([d], HEAD + 12 * MiB); // the short last part, uploaded by finish()
    const head = cryptoRandomBytes(4096);
    await img.write(head, 0, head.length, 0);
    const finished = await img.finish();
    expect(finished.sizeBytes).toBe(HEAD + 15 * MiB + 5);
    const got = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: `${prefix}blob.img` }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    const expected = Buffer.concat([head, Buffer.alloc(HEAD - head.length), a, c, d]);
    expect(sha256(body)).toBe(sha256(expected));
    expect(await img.sha256()).toBe(sha256(expected));
    await img.close();
  });

  it('refuses what an upload cannot do, with errors that say why', async () => {
    const { prefix, sink } = newSink();
    await expect(sink.openImageFile('x.qcow2', { headBytes: 64 * KiB })).rejects.toThrow(/headBytes 65536 must be a whole part/);
    const img = await sink.openImageFile('x.qcow2', { headBytes: HEAD });
    await img.writev([cryptoRandomBytes(6 * MiB)], HEAD);
    await img.datasync();
    const refusal = async (p: Promise<unknown>, pattern: RegExp) => {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      expect((err as Error).message).toMatch(pattern);
    };
    await refusal(img.writev([Buffer.alloc(10)], HEAD + 4 * MiB), /writev at offset 9437184 refused: an upload only appends, at its end 11534336/);
    await refusal(img.writev([Buffer.alloc(10)], 0), /only appends/);
    await refusal(img.write(Buffer.alloc(10), 0, 10, HEAD - 5), /only the reserved head \[0, 5242880\) is written out of order/);
    await refusal(img.truncate(HEAD + 1 * MiB), /truncate to 6291456 refused: an upload can only drop whole parts/);
    await refusal(img.finish(), /the head \[0, 5242880\) was never written/);
    await refusal(img.sha256(), /not complete/);
    const unreadable = await img.read(Buffer.alloc(16), 0, 16, HEAD).catch((e: unknown) => e);
    expect(isImageNotReadable(unreadable)).toBe(true);
    const zeros = Buffer.alloc(4, 1);
    expect(await img.read(zeros, 0, 4, 0)).toEqual({ bytesRead: 4 });
    expect(zeros.equals(Buffer.alloc(4))).toBe(true); // the unwritten head reads as zeros
    await img.abort();
    expect(await uploadsOf(`${prefix}x.qcow2`)).toEqual([]);
  });

  /** A staged image of one part and a head, finished and recorded as a transfer would leave it. */
  async function stageOnePartImage(sink: S3Sink): Promise<FinishedFile> {
    const img = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, stage: true });
    await img.writev([cryptoRandomBytes(PART)], HEAD);
    await img.write(Buffer.alloc(512, 1), 0, 512, 0);
    const finished = await img.finish();
    await sink.writeStaged('disk.qcow2', record(img, finished.sizeBytes, await img.sha256()));
    await img.close();
    return finished;
  }

  it('discardStaged removes a staged image completely: hidden object, open uploads and record', async () => {
    const { prefix, sink } = newSink();
    await stageOnePartImage(sink);
    // And an attempt that never finished, under the same hidden key.
    const other = await sink.openImageFile('disk.qcow2', { headBytes: HEAD, stage: true });
    await other.writev([cryptoRandomBytes(PART)], HEAD);
    await other.datasync();
    await other.close();
    expect((await keysUnder(prefix)).length).toBe(2); // hidden object and record
    expect(await uploadsOf(hiddenKey(prefix, 'disk.qcow2'))).toHaveLength(1);
    await sink.discardStaged('disk.qcow2');
    expect(await keysUnder(prefix)).toEqual([]);
    expect(await uploadsOf(hiddenKey(prefix, 'disk.qcow2'))).toEqual([]);
  });

  it('a 256 MiB fully allocated disk: throughput to MinIO, memory bounded by the parts in flight; qemu-img agrees', { timeout: 300_000 }, async () => {
    const SIZE = 256 * MiB;
    const CHUNK = MiB;
    const pattern = cryptoRandomBytes(CHUNK);
    const chunk = Buffer.alloc(CHUNK);
    const fill = (i: number) => {
      pattern.copy(chunk);
      for (let c = 0; c < CHUNK; c += 65536) chunk.writeUInt32LE(i * 16 + c + 1, c); // every cluster different, none zero
    };
    const raw = join(tmp.dir, 'full.raw');
    const { open } = await import('node:fs/promises');
    const rawHandle = await open(raw, 'w');
    for (let i = 0; i < SIZE / CHUNK; i++) {
      fill(i);
      await rawHandle.write(chunk, 0, CHUNK, i * CHUNK);
    }
    await rawHandle.close();

    const prefix = `s3-image-${cryptoRandomBytes(4).toString('hex')}/`;
    // The sink's own part size for this size hint (8 MiB), two uploads in flight.
    const sink = new S3Sink({ client, bucket: minio.bucket, prefix, queueSize: 2 });
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const started = performance.now();
    const img = await sink.openImageFile('full.qcow2', { headBytes: HEAD, sizeHint: SIZE });
    const writer = await Qcow2Writer.create(img, { virtualSize: SIZE, headBytes: HEAD, compactStateBytes: MAX_STATE_BYTES });
    for (let i = 0; i < SIZE / CHUNK; i++) {
      fill(i);
      await writer.write(i * CHUNK, chunk);
      if (i % 32 === 31) await writer.checkpoint();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    const { fileLength } = await writer.finish();
    await img.finish();
    const seconds = (performance.now() - started) / 1000;
    const hashStarted = performance.now();
    const sha = await img.sha256();
    const hashSeconds = (performance.now() - hashStarted) / 1000;
    await img.close();
    console.log(
      `qcow2 to S3 (MinIO), 256 MiB fully allocated, 8 MiB parts, queueSize 2, a checkpoint every 32 MiB: ${(SIZE / MiB / seconds).toFixed(0)} MiB/s ` +
        `(${seconds.toFixed(2)} s); sha256() reading it back: ${(fileLength / MiB / hashSeconds).toFixed(0)} MiB/s; peak arrayBuffers growth ${((peak - baseline) / MiB).toFixed(1)} MiB`,
    );
    const file = join(tmp.dir, 'full.qcow2');
    await download(`${prefix}full.qcow2`, file);
    expect(sha256(await readFile(file))).toBe(sha);
    const { storedDataBytes } = await expectValidCopy(file, raw, SIZE);
    expect(storedDataBytes).toBe(SIZE);
    // Three part buffers of 8 + 8 MiB (one filling, two in flight), reused; the head at the end; never the image.
    expect(peak - baseline).toBeLessThan(64 * MiB);

    // For scale: the same bytes as a plain multipart upload (the S3 disk writer, same part size and queue).
    const plainStarted = performance.now();
    const plain = await sink.openDiskWriter('plain.bin', { sizeBytes: SIZE });
    for (let i = 0; i < SIZE / CHUNK; i++) {
      fill(i);
      await plain.write(chunk);
    }
    await plain.finish();
    await plain.close();
    console.log(`plain multipart upload of 256 MiB, same part size and queue: ${(SIZE / MiB / ((performance.now() - plainStarted) / 1000)).toFixed(0)} MiB/s`);
  });

  it('publish refuses a hidden object that is not the verified one (replaced behind its back) and publishes nothing', async () => {
    const { prefix, sink } = newSink();
    const finished = await stageOnePartImage(sink);
    const hidden = hiddenKey(prefix, 'disk.qcow2');
    await client.send(new PutObjectCommand({ Bucket: minio.bucket, Key: hidden, Body: cryptoRandomBytes(finished.sizeBytes) }));
    await expect(sink.publish('disk.qcow2')).rejects.toThrow(/is not the verified one/);
    expect(await sink.existing(['disk.qcow2'])).toEqual([]);
  });

  it('a staged image larger than one copy request publishes by multipart copy (UploadPartCopy)', async () => {
    const { prefix, sink } = newSink();
    const img = await sink.openImageFile('big.img', { headBytes: HEAD, stage: true });
    const body = cryptoRandomBytes(13 * MiB + 17);
    await img.writev([body], HEAD);
    const head = Buffer.alloc(HEAD, 7);
    await img.write(head, 0, HEAD, 0);
    const finished = await img.finish();
    const state: WriterState = img.state();
    await img.close();
    const hidden = (state as S3ImageWriterState).key;
    expect(hidden).toBe(`${prefix}.hypersdk/big.img.image`);
    await publishStagedImage(client, minio.bucket, { hidden, final: `${prefix}big.img` }, record(img, finished.sizeBytes, ''), {
      singleCopyMaxBytes: 0,
      partBytes: PART,
    });
    const got = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: `${prefix}big.img` }));
    expect(sha256(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sha256(Buffer.concat([head, body])));
    expect(await keysUnder(prefix)).toEqual([`${prefix}big.img`]);
    expect(await uploadsOf(`${prefix}big.img`, hidden)).toEqual([]);
  });
});
