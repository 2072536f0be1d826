// A resumable S3 multipart writer. Bytes are cut into parts of `partSizeBytes`;
// each full part is uploaded while the next one fills (up to `queueSize` uploads
// in flight). A part counts as durable once UploadPart answered, and commit()
// reports the contiguous completed prefix plus the parts' ETags, which the
// checkpoint carries. Resume: ListParts on the upload id must show every
// checkpointed part with the same ETag and size; otherwise the upload is dropped
// and the transfer starts again from zero. The object only exists after
// CompleteMultipartUpload, so nothing incomplete is ever visible under its key.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../core/errors.js';
import { MAX_PARTS } from './s3-part-size.js';
import type { CompletedPart, DiskWriter, FinishedFile, OpenDiskWriterOptions, S3WriterState, WriterCommit } from './sink.js';
import { errorCode, sinkFailure } from './sink-errors.js';

export interface S3WriterTarget {
  client: S3Client;
  bucket: string;
  key: string;
  name: string;
  partSizeBytes: number;
  queueSize: number;
  /** finish() leaves the upload open for publishStagedUpload() (see OpenDiskWriterOptions.stage). */
  stage?: boolean;
}

async function listAllParts(t: Pick<S3WriterTarget, 'client' | 'bucket' | 'key'>, uploadId: string): Promise<Map<number, { etag: string; size: number }>> {
  const found = new Map<number, { etag: string; size: number }>();
  let marker: string | undefined;
  for (let page = 0; page < MAX_PARTS; page++) {
    const out = await t.client.send(
      new ListPartsCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId, PartNumberMarker: marker }),
    );
    for (const p of out.Parts ?? []) {
      if (p.PartNumber !== undefined && p.ETag !== undefined) found.set(p.PartNumber, { etag: p.ETag, size: p.Size ?? 0 });
    }
    if (!out.IsTruncated) break;
    marker = out.NextPartNumberMarker;
  }
  return found;
}

/** Aborts every in-progress multipart upload of exactly this key (leftovers of attempts that never checkpointed). */
export async function abortUploadsOfKey(client: S3Client, bucket: string, key: string, except?: string): Promise<void> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const out = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
    );
    for (const u of out.Uploads ?? []) {
      if (u.Key === key && u.UploadId && u.UploadId !== except) {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId })).catch(ignoreNoSuchUpload);
      }
    }
    if (!out.IsTruncated) break;
    keyMarker = out.NextKeyMarker;
    uploadIdMarker = out.NextUploadIdMarker;
  }
}

function ignoreNoSuchUpload(err: unknown): void {
  if (errorCode(err) !== 'NoSuchUpload') throw err;
}

async function createUpload(t: S3WriterTarget): Promise<string> {
  const out = await t.client.send(new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: t.key }));
  if (!out.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  return out.UploadId;
}

/** Reuses the checkpointed upload when S3 still holds all its parts, else starts a fresh one. */
export async function openS3DiskWriter(t: S3WriterTarget, options: OpenDiskWriterOptions): Promise<DiskWriter> {
  try {
    const cp = options.checkpoint;
    const state = cp?.sink.kind === 's3' && cp.sink.key === t.key ? cp.sink : undefined;
    if (state && cp) {
      const resumed = await tryResume(t, state, cp.offset);
      if (resumed) return resumed;
      await t.client
        .send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: state.uploadId }))
        .catch(ignoreNoSuchUpload);
    }
    await abortUploadsOfKey(t.client, t.bucket, t.key);
    return new S3DiskWriter(t, await createUpload(t), t.partSizeBytes, [], 0);
  } catch (err) {
    throw sinkFailure(err, `opening s3://${t.bucket}/${t.key}`);
  }
}

async function tryResume(t: S3WriterTarget, state: S3WriterState, offset: number): Promise<DiskWriter | undefined> {
  let listed: Map<number, { etag: string; size: number }>;
  try {
    listed = await listAllParts(t, state.uploadId);
  } catch (err) {
    if (errorCode(err) === 'NoSuchUpload') return undefined;
    throw err;
  }
  let covered = 0;
  for (const [i, part] of state.parts.entries()) {
    const seen = listed.get(part.partNumber);
    if (part.partNumber !== i + 1 || !seen || seen.etag !== part.etag || seen.size !== part.sizeBytes) return undefined;
    covered += part.sizeBytes;
  }
  if (covered !== offset) return undefined;
  return new S3DiskWriter(t, state.uploadId, state.partSizeBytes, state.parts, offset);
}

class S3DiskWriter implements DiskWriter {
  readonly prefixHashing = 'saved-state' as const;
  readonly name: string;
  readonly commitGranularity: number;
  /** write() copies each chunk into the part buffer, so it is released when write() settles. */
  readonly releasesChunks = true;
  private completed: CompletedPart[];
  private buffer: Buffer | undefined;
  private fill = 0;
  private nextPartNumber: number;
  private inFlight: Promise<void>[] = [];
  private failure: Error | undefined;
  private readonly aborter = new AbortController();

  constructor(
    private readonly t: S3WriterTarget,
    private readonly uploadId: string,
    private readonly partSize: number,
    parts: CompletedPart[],
    readonly resumeOffset: number,
  ) {
    this.name = t.name;
    this.commitGranularity = partSize;
    this.completed = [...parts];
    this.nextPartNumber = parts.length + 1;
  }

  private get where(): string {
    return `s3://${this.t.bucket}/${this.t.key}`;
  }

  async write(chunk: Buffer, release?: () => void): Promise<void> {
    try {
      this.throwIfFailed();
      let at = 0;
      while (at < chunk.length) {
        this.buffer ??= Buffer.allocUnsafe(this.partSize);
        const n = Math.min(chunk.length - at, this.partSize - this.fill);
        chunk.copy(this.buffer, this.fill, at, at + n);
        this.fill += n;
        at += n;
        if (this.fill === this.partSize) await this.dispatchPart();
      }
    } finally {
      release?.();
    }
  }

  /** Starts uploading the filled buffer; waits while `queueSize` uploads are already running. */
  private async dispatchPart(): Promise<void> {
    if (!this.buffer || this.fill === 0) return;
    while (this.inFlight.length >= this.t.queueSize) {
      await this.inFlight[0];
      this.throwIfFailed();
    }
    const partNumber = this.nextPartNumber++;
    if (partNumber > MAX_PARTS) {
      throw ApplicationFailure.create({
        type: ErrorType.SinkError,
        message: `${this.where}: more than ${MAX_PARTS} parts of ${this.partSize} bytes; the disk is larger than the size the part size was chosen for`,
        nonRetryable: true,
      });
    }
    const body = this.fill === this.partSize ? this.buffer : this.buffer.subarray(0, this.fill);
    const size = this.fill;
    this.buffer = undefined;
    this.fill = 0;
    const p: Promise<void> = this.uploadPart(partNumber, body, size).finally(() => {
      this.inFlight = this.inFlight.filter((q) => q !== p);
    });
    this.inFlight.push(p);
  }

  private async uploadPart(partNumber: number, body: Buffer, size: number): Promise<void> {
    try {
      const out = await this.t.client.send(
        new UploadPartCommand({
          Bucket: this.t.bucket,
          Key: this.t.key,
          UploadId: this.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: size,
        }),
        { abortSignal: this.aborter.signal },
      );
      if (!out.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
      this.completed.push({ partNumber, etag: out.ETag, sizeBytes: size });
    } catch (err) {
      this.failure ??= sinkFailure(err, `uploading part ${partNumber} of ${this.where}`);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Contiguous completed parts from part 1: that prefix is durable. */
  private durablePrefix(): CompletedPart[] {
    const sorted = [...this.completed].sort((a, b) => a.partNumber - b.partNumber);
    const prefix: CompletedPart[] = [];
    for (const p of sorted) {
      if (p.partNumber !== prefix.length + 1) break;
      prefix.push(p);
    }
    return prefix;
  }

  /** Waits for the parts in flight (they are whole parts), then reports the durable prefix. */
  async commit(): Promise<WriterCommit> {
    await Promise.allSettled(this.inFlight);
    const parts = this.durablePrefix();
    const offset = parts.reduce((sum, p) => sum + p.sizeBytes, 0);
    const state: S3WriterState = { kind: 's3', key: this.t.key, uploadId: this.uploadId, partSizeBytes: this.partSize, parts };
    return { offset, state };
  }

  async flush(): Promise<void> {
    this.throwIfFailed();
    await this.dispatchPart();
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  async reset(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    this.throwIfFailed();
    // Same upload: CompleteMultipartUpload lists parts explicitly, so re-uploaded
    // part numbers replace the old ones and nothing stale can end up in the object.
    this.completed = [];
    this.nextPartNumber = 1;
    this.buffer = undefined;
    this.fill = 0;
  }

  async finish(): Promise<FinishedFile> {
    await this.flush();
    const parts = this.durablePrefix();
    const size = parts.reduce((sum, p) => sum + p.sizeBytes, 0);
    // Staged: every part is in and listed in the last checkpoint; the object
    // appears only when finalize completes the upload (publishStagedUpload).
    if (this.t.stage) return { name: this.name, uri: this.where, sizeBytes: size };
    try {
      if (parts.length === 0) {
        // An empty file: a multipart upload needs at least one part; a plain PUT is simpler.
        await this.t.client.send(new PutObjectCommand({ Bucket: this.t.bucket, Key: this.t.key, Body: Buffer.alloc(0) }));
        await this.abortUpload();
      } else {
        await this.t.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.t.bucket,
            Key: this.t.key,
            UploadId: this.uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        );
      }
    } catch (err) {
      throw sinkFailure(err, `completing ${this.where}`);
    }
    return { name: this.name, uri: this.where, sizeBytes: size };
  }

  async close(): Promise<void> {
    // Parts still uploading were never reported durable: stop them now.
    this.aborter.abort();
    await Promise.allSettled(this.inFlight);
  }

  async abort(): Promise<void> {
    await this.close();
    try {
      await this.abortUpload();
    } catch (err) {
      throw sinkFailure(err, `aborting the upload of ${this.where}`);
    }
  }

  private async abortUpload(): Promise<void> {
    await this.t.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId: this.uploadId }))
      .catch(ignoreNoSuchUpload);
  }
}

/**
 * Completes a staged upload: parts 1..N of `uploadId` (N from the size and the part
 * size) must all be there and add up to `sizeBytes`; anything else means the upload
 * is not the verified one, and nothing is published.
 */
export async function publishStagedUpload(
  t: Pick<S3WriterTarget, 'client' | 'bucket' | 'key'>,
  staged: { uploadId: string; partSizeBytes: number; sizeBytes: number },
): Promise<void> {
  const where = `s3://${t.bucket}/${t.key}`;
  if (staged.sizeBytes === 0) {
    await t.client.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.key, Body: Buffer.alloc(0) }));
    await t.client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: staged.uploadId })).catch(ignoreNoSuchUpload);
    return;
  }
  const listed = await listAllParts(t, staged.uploadId);
  const count = Math.ceil(staged.sizeBytes / staged.partSizeBytes);
  const parts: { PartNumber: number; ETag: string }[] = [];
  let total = 0;
  for (let n = 1; n <= count; n++) {
    const part = listed.get(n);
    if (!part) throw new Error(`${where}: part ${n} of the staged upload is missing`);
    parts.push({ PartNumber: n, ETag: part.etag });
    total += part.size;
  }
  if (total !== staged.sizeBytes) throw new Error(`${where}: the staged upload holds ${total} bytes, expected ${staged.sizeBytes}`);
  await t.client.send(
    new CompleteMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: staged.uploadId, MultipartUpload: { Parts: parts } }),
  );
}
