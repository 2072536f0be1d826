// A resumable S3 multipart writer. Bytes are cut into parts of `partSizeBytes`;
// each full part is uploaded while the next one fills (up to `queueSize` uploads
// in flight). A part counts as durable once UploadPart answered, and commit()
// reports the contiguous completed prefix as its length and a digest of its
// parts (constant size: the checkpoint is heartbeated); the ETags stay in memory
// for CompleteMultipartUpload. Resume: ListParts on the upload id must show parts
// 1..partsDone whose digest equals the checkpoint's and whose sizes add up to its
// offset; otherwise the upload is dropped and the transfer starts again from zero. The object only exists after
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
import { compactS3State, digestOfParts, PartsDigest } from './s3-parts-digest.js';
import type { CompletedPart, DiskWriter, FinishedFile, LegacyS3WriterState, OpenDiskWriterOptions, S3WriterState, WriterCommit } from './sink.js';
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

export async function listAllParts(t: Pick<S3WriterTarget, 'client' | 'bucket' | 'key'>, uploadId: string): Promise<Map<number, { etag: string; size: number }>> {
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

export function ignoreNoSuchUpload(err: unknown): void {
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

/**
 * Parts 1..count as ListParts shows them, or undefined when one is missing.
 * Extra parts beyond `count` (uploaded after the checkpoint) are left out: they
 * are re-uploaded, and CompleteMultipartUpload names its parts explicitly.
 */
function listedPrefix(listed: Map<number, { etag: string; size: number }>, count: number): CompletedPart[] | undefined {
  const parts: CompletedPart[] = [];
  for (let n = 1; n <= count; n++) {
    const seen = listed.get(n);
    if (!seen) return undefined;
    parts.push({ partNumber: n, etag: seen.etag, sizeBytes: seen.size });
  }
  return parts;
}

async function tryResume(t: S3WriterTarget, saved: S3WriterState | LegacyS3WriterState, offset: number): Promise<DiskWriter | undefined> {
  const state = compactS3State(saved);
  if (!state || !Number.isSafeInteger(state.partsDone) || state.partsDone < 0 || state.partsDone > MAX_PARTS) return undefined;
  let listed: Map<number, { etag: string; size: number }>;
  try {
    listed = await listAllParts(t, state.uploadId);
  } catch (err) {
    if (errorCode(err) === 'NoSuchUpload') return undefined;
    throw err;
  }
  const parts = listedPrefix(listed, state.partsDone);
  if (!parts || digestOfParts(parts) !== state.partsDigest) return undefined;
  if (parts.reduce((sum, p) => sum + p.sizeBytes, 0) !== offset) return undefined;
  return new S3DiskWriter(t, state.uploadId, state.partSizeBytes, parts, offset);
}

class S3DiskWriter implements DiskWriter {
  readonly prefixHashing = 'saved-state' as const;
  readonly name: string;
  readonly commitGranularity: number;
  /** write() copies each chunk into the part buffer, so it is released when write() settles. */
  readonly releasesChunks = true;
  /** Every part UploadPart confirmed, by part number (memory only: CompleteMultipartUpload needs the ETags). */
  private completed = new Map<number, CompletedPart>();
  /** Parts 1..prefixCount are all completed: the durable prefix, its bytes and its digest. */
  private prefixCount = 0;
  private prefixBytes = 0;
  private prefixDigest = new PartsDigest();
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
    for (const p of parts) this.completed.set(p.partNumber, p);
    this.advancePrefix();
    this.nextPartNumber = this.prefixCount + 1;
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
      this.completed.set(partNumber, { partNumber, etag: out.ETag, sizeBytes: size });
    } catch (err) {
      this.failure ??= sinkFailure(err, `uploading part ${partNumber} of ${this.where}`);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Extends the durable prefix over the parts completed since (parts may finish out of order). */
  private advancePrefix(): void {
    for (let next = this.completed.get(this.prefixCount + 1); next; next = this.completed.get(this.prefixCount + 1)) {
      this.prefixDigest.add(next);
      this.prefixBytes += next.sizeBytes;
      this.prefixCount++;
    }
  }

  /** Contiguous completed parts from part 1: that prefix is durable. */
  private durablePrefix(): CompletedPart[] {
    this.advancePrefix();
    const prefix: CompletedPart[] = [];
    for (let n = 1; n <= this.prefixCount; n++) {
      const part = this.completed.get(n);
      if (part) prefix.push(part);
    }
    return prefix;
  }

  /** Waits for the parts in flight (they are whole parts), then reports the durable prefix. */
  async commit(): Promise<WriterCommit> {
    await Promise.allSettled(this.inFlight);
    this.advancePrefix();
    const state: S3WriterState = {
      kind: 's3',
      key: this.t.key,
      uploadId: this.uploadId,
      partSizeBytes: this.partSize,
      partsDone: this.prefixCount,
      partsDigest: this.prefixDigest.hex(),
    };
    return { offset: this.prefixBytes, state };
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
    this.completed = new Map();
    this.prefixCount = 0;
    this.prefixBytes = 0;
    this.prefixDigest = new PartsDigest();
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
 * size) must all be there and add up to `sizeBytes`, and the first `partsDone` of
 * them must have the digest the last checkpoint recorded (when it recorded one);
 * anything else means the upload is not the verified one, and nothing is published.
 */
export async function publishStagedUpload(
  t: Pick<S3WriterTarget, 'client' | 'bucket' | 'key'>,
  staged: { uploadId: string; partSizeBytes: number; sizeBytes: number; partsDone?: number; partsDigest?: string },
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
  if (staged.partsDone !== undefined && staged.partsDigest !== undefined) {
    const counted = listedPrefix(listed, Math.min(staged.partsDone, count));
    if (staged.partsDone > count || !counted || digestOfParts(counted) !== staged.partsDigest) {
      throw new Error(`${where}: parts 1..${staged.partsDone} of the staged upload are not the ones its last checkpoint counted`);
    }
  }
  await t.client.send(
    new CompleteMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: staged.uploadId, MultipartUpload: { Parts: parts } }),
  );
}
