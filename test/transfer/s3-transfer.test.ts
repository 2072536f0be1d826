import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { S3Sink } from '../../src/storage/s3-sink.js';
import type { LegacyS3WriterState } from '../../src/storage/sink.js';
import { attempt, failureType, isRetryable } from './helpers/run.js';
import { sha256Hex, startSourceServer, type SourceServer } from './helpers/source-server.js';
import { minioClient } from '../harness/minio-client.js';

const MIB = 1024 * 1024;
const PART = 5 * MIB; // S3's minimum part size, to get several parts from small files

describe('transferDisk to S3 (MinIO)', () => {
  const { minio } = inject('services');
  let client: S3Client;
  let prefix: string;
  let sink: S3Sink;
  let server: SourceServer | undefined;

  beforeAll(() => {
    client = minioClient({ minio });
  });
  afterAll(() => client.destroy());
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  function newSink(): S3Sink {
    prefix = `transfer-${randomBytes(4).toString('hex')}/`;
    sink = new S3Sink({ client, bucket: minio.bucket, prefix, partSizeBytes: PART });
    return sink;
  }

  async function objectSha256(key: string): Promise<string> {
    const got = await client.send(new GetObjectCommand({ Bucket: minio.bucket, Key: key }));
    return sha256Hex(Buffer.from(await got.Body!.transformToByteArray()));
  }

  /** MinIO lists multipart uploads only for an exact key, so callers pass the full key. */
  async function uploadsOf(p: string): Promise<number> {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: minio.bucket, Prefix: p }));
    return out.Uploads?.length ?? 0;
  }

  async function exists(key: string): Promise<boolean> {
    try {
      await client.send(new HeadObjectCommand({ Bucket: minio.bucket, Key: key }));
      return true;
    } catch {
      return false;
    }
  }

  it('uploads the whole file as a multipart object with the source SHA-256', async () => {
    newSink();
    server = await startSourceServer(17 * MIB + 3);
    const a = await attempt(sink, 'disk-0.vmdk', server.url);
    expect(a.error).toBeUndefined();
    expect(a.result?.sha256).toBe(server.sha256);
    expect(a.result?.file.uri).toBe(`s3://${minio.bucket}/${prefix}disk-0.vmdk`);
    expect(await objectSha256(`${prefix}disk-0.vmdk`)).toBe(server.sha256);
    expect(a.last?.sink.kind === 's3' && 'partsDone' in a.last.sink && a.last.sink.partsDone).toBe(4);
    expect(await uploadsOf(`${prefix}disk-0.vmdk`)).toBe(0);
    expect(await sink.listComplete()).toEqual(['disk-0.vmdk']);
  });

  it('resumes an interrupted upload via ListParts: correct object, only unfinished parts re-sent', async () => {
    newSink();
    const size = 26 * MIB;
    const dropAt = Math.floor(size * 0.4);
    server = await startSourceServer(size, { dropAfterBytes: dropAt });
    const first = await attempt(sink, 'disk.vmdk', server.url, { sizeBytes: size });
    expect(failureType(first.error)).toBe('TransferFailed');
    expect(isRetryable(first.error)).toBe(true);
    const cp = first.last!;
    expect(cp.sink.kind).toBe('s3');
    expect(cp.hash.kind).toBe('hash-wasm-state');
    expect(cp.offset).toBe(2 * PART); // 10.4 MiB received: two whole parts durable
    expect(await exists(`${prefix}disk.vmdk`)).toBe(false); // nothing incomplete looks complete
    expect(await uploadsOf(`${prefix}disk.vmdk`)).toBe(1);

    server.behaviour.dropAfterBytes = undefined;
    const second = await attempt(sink, 'disk.vmdk', server.url, { checkpoint: cp, sizeBytes: size });
    expect(second.error).toBeUndefined();
    expect(second.result?.resumedFromOffset).toBe(cp.offset);
    expect(second.result?.bytesReceived).toBe(size - cp.offset);
    expect(server.ranges.at(-1)).toBe(`bytes=${cp.offset}-`);
    expect(second.result?.sha256).toBe(server.sha256);
    expect(await objectSha256(`${prefix}disk.vmdk`)).toBe(server.sha256);
    expect(await uploadsOf(`${prefix}disk.vmdk`)).toBe(0);
  });

  it('resumes from a checkpoint the previous version wrote (every part with its ETag listed)', async () => {
    newSink();
    const size = 17 * MIB;
    server = await startSourceServer(size, { dropAfterBytes: 12 * MIB });
    const first = await attempt(sink, 'old.vmdk', server.url, { sizeBytes: size });
    const cp = first.last!;
    expect(cp.offset).toBe(2 * PART);
    const { key, uploadId } = cp.sink as { key: string; uploadId: string };
    const listed = await client.send(new ListPartsCommand({ Bucket: minio.bucket, Key: key, UploadId: uploadId }));
    const parts = (listed.Parts ?? []).map((p) => ({ partNumber: p.PartNumber!, etag: p.ETag!, sizeBytes: p.Size! }));
    const old: LegacyS3WriterState = { kind: 's3', key, uploadId, partSizeBytes: PART, parts };

    server.behaviour.dropAfterBytes = undefined;
    const second = await attempt(sink, 'old.vmdk', server.url, { checkpoint: { ...cp, sink: old }, sizeBytes: size });
    expect(second.error).toBeUndefined();
    expect(second.result?.resumedFromOffset).toBe(2 * PART);
    // The next checkpoints are in the compact shape: 4 parts (3 full, 2 MiB last).
    expect(second.checkpoints.at(-1)?.cp.sink).toMatchObject({ kind: 's3', uploadId, partsDone: 4 });
    expect(await objectSha256(key)).toBe(server.sha256);
    expect(await uploadsOf(key)).toBe(0);
  });

  it('a checkpoint whose hash state does not load starts over in the same upload, correct object', async () => {
    newSink();
    server = await startSourceServer(12 * MIB, { dropAfterBytes: 11 * MIB });
    const first = await attempt(sink, 'w.vmdk', server.url);
    const cp = first.last!;
    expect(cp.offset).toBe(2 * PART);
    const { uploadId } = cp.sink as { uploadId: string };
    const damaged = { ...cp, hash: { algorithm: 'sha256' as const, kind: 'hash-wasm-state' as const, state: Buffer.from('not a hash state').toString('base64') } };
    server.behaviour.dropAfterBytes = undefined;
    const second = await attempt(sink, 'w.vmdk', server.url, { checkpoint: damaged });
    expect(second.error).toBeUndefined();
    expect(second.result?.restartedFromZero).toBe(true);
    expect(second.checkpoints.at(-1)?.cp.sink).toMatchObject({ uploadId });
    expect(await objectSha256(`${prefix}w.vmdk`)).toBe(server.sha256);
    expect(await uploadsOf(`${prefix}w.vmdk`)).toBe(0);
  });

  it('starts a new upload from zero when the checkpointed upload is gone', async () => {
    newSink();
    server = await startSourceServer(12 * MIB, { dropAfterBytes: 11 * MIB });
    const first = await attempt(sink, 'g.vmdk', server.url);
    expect(first.last!.offset).toBe(2 * PART);
    await sink.remove('g.vmdk'); // aborts the upload behind the checkpoint
    expect(await uploadsOf(`${prefix}g.vmdk`)).toBe(0);
    server.behaviour.dropAfterBytes = undefined;
    const second = await attempt(sink, 'g.vmdk', server.url, { checkpoint: first.last });
    expect(second.result?.restartedFromZero).toBe(true);
    expect(await objectSha256(`${prefix}g.vmdk`)).toBe(server.sha256);
  });

  it('server ignoring Range on resume → restart from zero in the same upload, correct object', async () => {
    newSink();
    server = await startSourceServer(16 * MIB, { dropAfterBytes: 12 * MIB });
    const first = await attempt(sink, 'r.vmdk', server.url);
    expect(first.last!.offset).toBeGreaterThan(0);
    server.behaviour = { honourRange: false };
    const second = await attempt(sink, 'r.vmdk', server.url, { checkpoint: first.last });
    expect(second.result?.restartedFromZero).toBe(true);
    expect(await objectSha256(`${prefix}r.vmdk`)).toBe(server.sha256);
  });

  it('abort after an interruption leaves no multipart upload and no object', async () => {
    newSink();
    server = await startSourceServer(12 * MIB, { dropAfterBytes: 11 * MIB });
    const first = await attempt(sink, 'a.vmdk', server.url);
    expect(failureType(first.error), String(first.error)).toBe('TransferFailed');
    expect(await uploadsOf(`${prefix}a.vmdk`)).toBe(1);
    const writer = await sink.openDiskWriter('a.vmdk', { checkpoint: first.last });
    expect(writer.resumeOffset).toBe(first.last!.offset);
    await writer.abort();
    expect(await uploadsOf(`${prefix}a.vmdk`)).toBe(0);
    expect(await exists(`${prefix}a.vmdk`)).toBe(false);
  });

  it('cancellation stops the transfer; remove() then cleans the remote state', async () => {
    newSink();
    server = await startSourceServer(40 * MIB, { bytesPerSecond: 16 * MIB });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled')), 900);
    const t0 = Date.now();
    const a = await attempt(sink, 'c.vmdk', server.url, { signal: ac.signal });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((a.error as Error).message).toBe('cancelled');
    await sink.remove('c.vmdk');
    expect(await uploadsOf(`${prefix}c.vmdk`)).toBe(0);
    expect(await exists(`${prefix}c.vmdk`)).toBe(false);
  });

  it('a zero-byte disk becomes an empty object', async () => {
    newSink();
    server = await startSourceServer(0);
    const a = await attempt(sink, 'empty.vmdk', server.url);
    expect(a.result?.sha256).toBe(sha256Hex(Buffer.alloc(0)));
    expect(await objectSha256(`${prefix}empty.vmdk`)).toBe(sha256Hex(Buffer.alloc(0)));
    expect(await uploadsOf(`${prefix}empty.vmdk`)).toBe(0);
  });
});
