// The S3 writer's checkpoint state against a real S3 (MinIO): constant size
// whatever the part count, and a resume that ListParts must prove (parts
// 1..partsDone with the checkpointed digest), from the compact state and from the
// state earlier versions wrote (every part listed).
import type {
  S3Client} from '@aws-sdk/client-s3';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openS3DiskWriter, type S3WriterTarget } from '../../src/storage/s3-disk-writer.js';
import { S3Sink } from '../../src/storage/s3-sink.js';
import type { LegacyS3WriterState, StagedDiskRecord, WriterCommit } from '../../src/storage/sink.js';
import { minioClient } from '../harness/minio-client.js';

const MIB = 1024 * 1024;
const PART = 5 * MIB; // S3's minimum for every part but the last

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const jsonSize = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

describe('S3 writer checkpoint state (MinIO)', () => {
  const { minio } = inject('services');
  let client: S3Client;

  beforeAll(() => {
    client = minioClient({ minio });
  });
  afterAll(() => client.destroy());

  function target(partSizeBytes = PART): S3WriterTarget {
    const key = `writer-state-${randomBytes(4).toString('hex')}/disk.vmdk`;
    return { client, bucket: minio.bucket, key, name: 'disk.vmdk', partSizeBytes, queueSize: 2 };
  }

  /** Writes `data` and commits (parts in flight settle); the writer is then dropped as a killed worker would. */
  async function writeAndCommit(t: S3WriterTarget, data: Buffer): Promise<WriterCommit> {
    const w = await openS3DiskWriter(t, {});
    await w.write(data);
    const c = await w.commit();
    await w.close();
    return c;
  }

  async function objectSha256(key: string): Promise<string> {
    const got = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: key }));
    return sha256(Buffer.from(await got.Body!.transformToByteArray()));
  }

  async function uploadIds(key: string): Promise<string[]> {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: minio.bucket, Prefix: key }));
    return (out.Uploads ?? []).filter((u) => u.Key === key).map((u) => u.UploadId ?? '');
  }

  /** Resumes from `state` at `offset`, writes the rest of `data`, completes; returns where it resumed. */
  async function resumeAndFinish(t: S3WriterTarget, state: WriterCommit['state'], offset: number, data: Buffer): Promise<number> {
    const w = await openS3DiskWriter(t, { checkpoint: { offset, sink: state } });
    const from = w.resumeOffset;
    await w.write(data.subarray(from));
    await w.finish();
    await w.close();
    return from;
  }

  it('the state has the same size at 2 and at 40 parts, and a 40-part state resumes', async () => {
    // Parts under 5 MiB upload fine; only completing such an upload would be refused.
    const small = 64 * 1024;
    const t2 = target(small);
    const two = await writeAndCommit(t2, randomBytes(2 * small + 100));
    const t40 = target(small);
    const forty = await writeAndCommit(t40, randomBytes(40 * small + 100));
    expect(two.offset).toBe(2 * small);
    expect(forty.offset).toBe(40 * small);
    // Only the digits of partsDone differ ("2" / "40").
    expect(jsonSize(forty.state) - jsonSize(two.state)).toBe(1);
    expect(jsonSize(forty.state)).toBeLessThan(1024);

    const resumed = await openS3DiskWriter(t40, { checkpoint: { offset: forty.offset, sink: forty.state } });
    expect(resumed.resumeOffset).toBe(40 * small);
    await resumed.abort();
  });

  it('resumes from the compact state: only the rest is sent, the object has the right SHA-256', async () => {
    const t = target();
    const data = randomBytes(2 * PART + 3 * MIB + 7);
    const cp = await writeAndCommit(t, data.subarray(0, 2 * PART + MIB));
    expect(cp.offset).toBe(2 * PART);
    expect(cp.state).toMatchObject({ kind: 's3', partsDone: 2 });
    expect(await resumeAndFinish(t, cp.state, cp.offset, data)).toBe(2 * PART);
    expect(await objectSha256(t.key)).toBe(sha256(data));
    expect(await uploadIds(t.key)).toEqual([]);
  });

  it('restarts when S3 holds other bytes under a counted part (digest mismatch), never completing a wrong object', async () => {
    const t = target();
    const data = randomBytes(2 * PART + 2 * MIB);
    const cp = await writeAndCommit(t, data.subarray(0, 2 * PART));
    expect(cp.state.kind === 's3' && 'partsDone' in cp.state && cp.state.partsDone).toBe(2);
    const { uploadId } = cp.state as { uploadId: string };
    // Part 2 replaced behind the checkpoint's back: same number and size, other bytes.
    await client.send(
      new UploadPartCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId, PartNumber: 2, Body: randomBytes(PART), ContentLength: PART }),
    );
    expect(await resumeAndFinish(t, cp.state, cp.offset, data)).toBe(0);
    expect(await objectSha256(t.key)).toBe(sha256(data));
    expect(await uploadIds(t.key)).toEqual([]); // the doubtful upload was aborted
  });

  it('resumes from an old-shape state (every part with its ETag) and restarts when one of its ETags is wrong', async () => {
    const data = randomBytes(2 * PART + MIB);
    for (const tamper of [false, true]) {
      const t = target();
      const cp = await writeAndCommit(t, data.subarray(0, 2 * PART + 10));
      const { uploadId } = cp.state as { uploadId: string };
      // What the previous version put in the checkpoint: the parts as S3 lists them.
      const listed = await client.send(new ListPartsCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId }));
      const parts = (listed.Parts ?? []).map((p) => ({ partNumber: p.PartNumber!, etag: p.ETag!, sizeBytes: p.Size! }));
      expect(parts.map((p) => p.partNumber)).toEqual([1, 2]);
      if (tamper) parts[1]!.etag = '"0123456789abcdef0123456789abcdef"';
      const old: LegacyS3WriterState = { kind: 's3', key: t.key, uploadId, partSizeBytes: PART, parts };
      expect(await resumeAndFinish(t, old, cp.offset, data)).toBe(tamper ? 0 : 2 * PART);
      expect(await objectSha256(t.key)).toBe(sha256(data));
    }
  });

  /**
   * A staged disk as the transfer activity leaves it: every part uploaded, the
   * upload left open, the record carrying the last checkpoint's writer state.
   */
  async function stageDisk(sink: S3Sink, name: string, data: Buffer): Promise<WriterCommit> {
    const w = await sink.openDiskWriter(name, { stage: true, sizeBytes: data.length });
    await w.write(data);
    const last = await w.commit();
    await w.finish();
    await w.close();
    return last;
  }

  function record(bytes: number, sha256hex: string, sinkState: StagedDiskRecord['sinkState']): StagedDiskRecord {
    return { version: 1, jobId: 'job-1', verified: true, bytes, sha256: sha256hex, source: {}, ...(sinkState ? { sinkState } : {}), updatedAt: new Date().toISOString() };
  }

  it('publishes a staged upload from a compact or an old-shape record, and refuses one whose counted parts changed', async () => {
    const prefix = `writer-state-${randomBytes(4).toString('hex')}/`;
    const sink = new S3Sink({ client, bucket: minio.bucket, prefix, partSizeBytes: PART });
    const data = randomBytes(2 * PART + MIB);

    const compact = await stageDisk(sink, 'a.vmdk', data);
    expect(compact.state).toMatchObject({ partsDone: 2 });
    await sink.writeStaged('a.vmdk', record(data.length, sha256(data), compact.state));
    expect((await sink.publish('a.vmdk')).sizeBytes).toBe(data.length);
    expect(await objectSha256(`${prefix}a.vmdk`)).toBe(sha256(data));

    const b = await stageDisk(sink, 'b.vmdk', data);
    const { uploadId } = b.state as { uploadId: string };
    const listed = await client.send(new ListPartsCommand({ Bucket: minio.bucket, Key: `${prefix}b.vmdk`, UploadId: uploadId }));
    const parts = (listed.Parts ?? []).slice(0, 2).map((p) => ({ partNumber: p.PartNumber!, etag: p.ETag!, sizeBytes: p.Size! }));
    const old: LegacyS3WriterState = { kind: 's3', key: `${prefix}b.vmdk`, uploadId, partSizeBytes: PART, parts };
    await sink.writeStaged('b.vmdk', record(data.length, sha256(data), old));
    await sink.publish('b.vmdk');
    expect(await objectSha256(`${prefix}b.vmdk`)).toBe(sha256(data));

    const c = await stageDisk(sink, 'c.vmdk', data);
    const cUpload = (c.state as { uploadId: string }).uploadId;
    await client.send(
      new UploadPartCommand({ Bucket: minio.bucket, Key: `${prefix}c.vmdk`, UploadId: cUpload, PartNumber: 1, Body: randomBytes(PART), ContentLength: PART }),
    );
    await sink.writeStaged('c.vmdk', record(data.length, sha256(data), c.state));
    await expect(sink.publish('c.vmdk')).rejects.toThrow(/not the ones its last checkpoint counted/);
    expect(await sink.existing(['c.vmdk'])).toEqual([]);
  });
});
