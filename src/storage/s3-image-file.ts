// A disk image (qcow2, or raw with a reserved head) written to S3 as one
// multipart upload, without local staging. An upload only appends, so:
//   - part 1 is the reserved head [0, headBytes): the qcow2 header goes there last,
//     written once by write() at offset 0 (the rest of the head is zeros) and
//     uploaded at finish();
//   - every other byte arrives by writev() at the current end and waits in memory;
//     a part (2..N) is cut where a writev() ends once partSize bytes are waiting,
//     so every durable length is a point the qcow2 writer can describe (its
//     checkpoints are at writev ends only);
//   - durableLength() = headBytes + the parts 2..k UploadPart confirmed, k the
//     end of the contiguous prefix; the bytes waiting for the next part are lost
//     on a kill, and durableLength() never claims them.
// Resume: the state names the upload and digests parts 2..partsDone (constant
// size, it travels in every heartbeat); ListParts must show exactly those parts,
// else the upload is aborted and the image starts over from an empty upload.
//
// What cannot be done on S3: reading back. Parts cannot be read before the upload
// completes, so read() answers only the head (zeros until written: after a
// resume the head is never considered written, part 1 is made again at finish).
// A qcow2 checkpoint in the one-bit-per-region form ('presence') makes resume
// read L2 tables back; read() refuses that with an error isImageNotReadable()
// recognises, before the writer changed anything: the caller then starts over
// (truncate(0) and Qcow2Writer.create) instead. A qcow2 writer on S3 should use
// compactStateBytes = MAX_STATE_BYTES so that only enormous disks ever get there.
//
// Memory: part buffers of partSize + PART_SLACK_BYTES (a part ends at the first
// writev end past partSize; the qcow2 writer's writev is at most 8 MiB), reused:
// one filling and at most queueSize in flight, so (queueSize + 1) of them
// (48 MiB at the default 8 MiB parts and queueSize 2); a larger writev gets a
// one-off buffer. Plus the head (headBytes) from the header's write to finish().
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { ErrorType } from '../core/errors.js';
import { abortUploadsOfKey, ignoreNoSuchUpload, listAllParts } from './s3-disk-writer.js';
import { MAX_PARTS, MAX_PART_BYTES, MIB } from './s3-part-size.js';
import { digestOfParts, PartsDigest } from './s3-parts-digest.js';
import type { CompletedPart, FinishedFile, ImageFile, S3ImageWriterState, WriterState } from './sink.js';
import { errorCode, sinkFailure } from './sink-errors.js';

/** S3's smallest part (every part but the last). */
export const MIN_S3_PART_BYTES = 5 * MIB;
/** Room past partSize in a part buffer for the writev that crosses it (the qcow2 writer's batches are at most 8 MiB). */
const PART_SLACK_BYTES = 8 * MIB;

export interface S3ImageTarget {
  client: S3Client;
  bucket: string;
  /** The upload's key: the final key, or a hidden staging key (S3Sink). */
  key: string;
  name: string;
  partSizeBytes: number;
  headBytes: number;
  /** Part uploads in flight while the next part fills. */
  queueSize: number;
  /** finish() completes a hidden object; abort() then deletes it too. */
  stage: boolean;
}

const NOT_READABLE = 'image-not-readable';

/** A refusal no retry fixes: the caller asked for something an upload cannot do. */
function refusal(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.SinkError, message, nonRetryable: true, ...(details ? { details: [details] } : {}) });
}

/** The result of `f` as a promise, its throw as a rejection. */
const settle = <T>(f: () => T): Promise<T> => new Promise<T>((resolve) => resolve(f()));

/** True for read()'s refusal of bytes past the head: resume cannot re-read them, so the image must start over. */
export function isImageNotReadable(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.details?.[0] === NOT_READABLE;
}

/** Opens the image: continues the upload of `resume` when ListParts proves it, else a new, empty upload. */
export async function openS3ImageFile(t: S3ImageTarget, resume?: WriterState): Promise<ImageFile> {
  const where = `s3://${t.bucket}/${t.key}`;
  if (!Number.isSafeInteger(t.headBytes) || t.headBytes < MIN_S3_PART_BYTES || t.headBytes > MAX_PART_BYTES) {
    throw refusal(`${where}: headBytes ${t.headBytes} must be a whole part of ${MIN_S3_PART_BYTES}..${MAX_PART_BYTES} bytes (S3's part limits)`);
  }
  if (!Number.isSafeInteger(t.partSizeBytes) || t.partSizeBytes < MIN_S3_PART_BYTES || t.partSizeBytes > MAX_PART_BYTES) {
    throw refusal(`${where}: part size ${t.partSizeBytes} is outside S3's ${MIN_S3_PART_BYTES}..${MAX_PART_BYTES} bytes`);
  }
  try {
    const saved = resume?.kind === 's3-image' && resume.key === t.key ? resume : undefined;
    if (saved) {
      const parts = await provenParts(t, saved);
      if (parts) {
        // Leftovers of attempts that never checkpointed are not this image.
        await abortUploadsOfKey(t.client, t.bucket, t.key, saved.uploadId);
        return new S3ImageFile({ ...t, partSizeBytes: saved.partSizeBytes }, saved.uploadId, parts);
      }
      if (!saved.completed) {
        await t.client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: saved.uploadId })).catch(ignoreNoSuchUpload);
      }
    }
    await abortUploadsOfKey(t.client, t.bucket, t.key);
    const out = await t.client.send(new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: t.key }));
    if (!out.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
    return new S3ImageFile(t, out.UploadId, []);
  } catch (err) {
    throw sinkFailure(err, `opening ${where}`);
  }
}

/** Parts 2..partsDone of the saved upload when S3 still holds exactly them (digest), else undefined: start over. */
async function provenParts(t: S3ImageTarget, saved: S3ImageWriterState): Promise<CompletedPart[] | undefined> {
  // A completed upload cannot take more parts; another head or part size would not fit the bytes.
  if (saved.completed || saved.headBytes !== t.headBytes) return undefined;
  if (!Number.isSafeInteger(saved.partsDone) || saved.partsDone < 1 || saved.partsDone > MAX_PARTS) return undefined;
  if (!Number.isSafeInteger(saved.partSizeBytes) || saved.partSizeBytes < MIN_S3_PART_BYTES || saved.partSizeBytes > MAX_PART_BYTES) return undefined;
  let listed: Map<number, { etag: string; size: number }>;
  try {
    listed = await listAllParts(t, saved.uploadId);
  } catch (err) {
    if (errorCode(err) === 'NoSuchUpload') return undefined;
    throw err;
  }
  const parts: CompletedPart[] = [];
  for (let n = 2; n <= saved.partsDone; n++) {
    const seen = listed.get(n);
    // Every part but the last must reach S3's minimum: these are never the last.
    if (!seen || seen.size < MIN_S3_PART_BYTES) return undefined;
    parts.push({ partNumber: n, etag: seen.etag, sizeBytes: seen.size });
  }
  return digestOfParts(parts) === saved.partsDigest ? parts : undefined;
}

class S3ImageFile implements ImageFile {
  readonly randomAccess = false;

  /** A part is made durable once this many bytes wait for it. */
  get durableGranularity(): number {
    return this.t.partSizeBytes;
  }
  readonly name: string;
  /** Parts 2.. that UploadPart confirmed, by number (CompleteMultipartUpload needs their ETags). */
  private completed = new Map<number, CompletedPart>();
  /** Parts 2..prefixEnd are all confirmed (1: none); their bytes and digest. */
  private prefixEnd = 1;
  private prefixBytes = 0;
  private prefixDigest = new PartsDigest();
  /** Bytes after the head handed to part uploads (confirmed or not). */
  private dispatchedBytes = 0;
  private nextPartNumber = 2;
  /** The next part: [0, waitingBytes) of `filling` holds the writev() bytes since the last cut. */
  private filling: Buffer | undefined;
  private waitingBytes = 0;
  /** Part buffers of `bufferBytes` free for reuse. */
  private pool: Buffer[] = [];
  private readonly bufferBytes: number;
  private inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;
  private aborter = new AbortController();
  /** The head's bytes once write() put something there (zeros elsewhere). */
  private head: Buffer | undefined;
  private done: { etag: string; bytes: number } | undefined;
  private closed = false;

  constructor(
    private readonly t: S3ImageTarget,
    private readonly uploadId: string,
    parts: CompletedPart[],
  ) {
    this.name = t.name;
    this.bufferBytes = t.partSizeBytes + PART_SLACK_BYTES;
    for (const p of parts) this.completed.set(p.partNumber, p);
    this.advancePrefix();
    this.nextPartNumber = this.prefixEnd + 1;
    this.dispatchedBytes = this.prefixBytes;
  }

  private get where(): string {
    return `s3://${this.t.bucket}/${this.t.key}`;
  }

  /** Where the next writev() must start. */
  private get end(): number {
    return this.t.headBytes + this.dispatchedBytes + this.waitingBytes;
  }

  durableLength(): number {
    return this.t.headBytes + this.prefixBytes;
  }

  async writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    this.assertOpen('writev');
    this.throwIfFailed();
    if (position !== this.end) {
      throw refusal(`${this.where}: writev at offset ${position} refused: an upload only appends, at its end ${this.end}`);
    }
    const total = buffers.reduce((sum, b) => sum + b.length, 0);
    if (total === 0) return { bytesWritten: 0 };
    // The caller may reuse its buffers once this resolves: copy them into the part.
    const filling = this.room(total);
    for (const b of buffers) this.waitingBytes += b.copy(filling, this.waitingBytes);
    // Cut only here, at a writev end: the qcow2 writer's checkpoints are at writev ends.
    if (this.waitingBytes >= this.t.partSizeBytes) await this.dispatchWaiting();
    return { bytesWritten: total };
  }

  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return settle(() => this.writeHead(buffer, offset, length, position));
  }

  private writeHead(buffer: Buffer, offset: number, length: number, position: number): { bytesWritten: number } {
    this.assertOpen('write');
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0 || position + length > this.t.headBytes) {
      throw refusal(`${this.where}: write of ${length} bytes at offset ${position} refused: only the reserved head [0, ${this.t.headBytes}) is written out of order (use writev at the end)`);
    }
    if (this.done) throw refusal(`${this.where}: write to the head refused: the upload is complete`);
    this.head ??= Buffer.alloc(this.t.headBytes);
    buffer.copy(this.head, position, offset, offset + length);
    return { bytesWritten: length };
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return settle(() => this.readHead(buffer, offset, length, position));
  }

  private readHead(buffer: Buffer, offset: number, length: number, position: number): { bytesRead: number } {
    this.assertOpen('read');
    if (position < 0 || length < 0 || position + length > this.t.headBytes) {
      throw ApplicationFailure.create({
        type: ErrorType.NotSupported,
        message: `${this.where}: ${length} bytes at offset ${position} cannot be read back: an upload's parts are unreadable until it completes (only the head [0, ${this.t.headBytes}) is known); start the image over`,
        nonRetryable: true,
        details: [NOT_READABLE],
      });
    }
    // Until written, the head is zeros: a header a killed finish() uploaded as part 1 is never reused.
    if (this.head) this.head.copy(buffer, offset, position, position + length);
    else buffer.fill(0, offset, offset + length);
    return { bytesRead: length };
  }

  /** Waits for the parts in flight; the bytes waiting for the next part stay in memory (durableLength() says so). */
  async datasync(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.throwIfFailed();
  }

  stat(): Promise<{ size: number }> {
    return Promise.resolve({ size: this.end });
  }

  /**
   * 0 (or headBytes): forget every part and the head. A durable part end:
   * forget the parts after it (they are uploaded again under the same numbers;
   * CompleteMultipartUpload names its parts). Any other length is refused.
   */
  async truncate(length: number): Promise<void> {
    this.assertOpen('truncate');
    if (this.done) throw refusal(`${this.where}: truncate refused: the upload is complete`);
    await Promise.allSettled([...this.inFlight]);
    this.advancePrefix();
    let keep: number | undefined;
    if (length === 0 || length === this.t.headBytes) keep = 1;
    else {
      let at = this.t.headBytes;
      for (let n = 2; n <= this.prefixEnd && keep === undefined; n++) {
        at += this.completed.get(n)!.sizeBytes;
        if (at === length) keep = n;
      }
    }
    if (keep === undefined) {
      throw refusal(`${this.where}: truncate to ${length} refused: an upload can only drop whole parts, and ${length} is not the end of one it holds (0, ${this.t.headBytes} .. ${this.durableLength()} are)`);
    }
    for (const n of [...this.completed.keys()]) if (n > keep) this.completed.delete(n);
    // Any failure was of a part past `keep` (parts up to it were all confirmed): dropped with it.
    this.failure = undefined;
    this.prefixEnd = 1;
    this.prefixBytes = 0;
    this.prefixDigest = new PartsDigest();
    this.advancePrefix();
    this.nextPartNumber = keep + 1;
    this.dispatchedBytes = this.prefixBytes;
    this.release(this.filling);
    this.filling = undefined;
    this.waitingBytes = 0;
    if (length === 0) this.head = undefined;
  }

  state(): S3ImageWriterState {
    return {
      kind: 's3-image',
      key: this.t.key,
      uploadId: this.uploadId,
      partSizeBytes: this.t.partSizeBytes,
      headBytes: this.t.headBytes,
      partsDone: this.prefixEnd,
      partsDigest: this.prefixDigest.hex(),
      ...(this.done ? { completed: { ...this.done } } : {}),
    };
  }

  async finish(): Promise<FinishedFile> {
    if (this.done) return { name: this.name, uri: this.where, sizeBytes: this.done.bytes };
    this.assertOpen('finish');
    if (!this.head) throw refusal(`${this.where}: finish refused: the head [0, ${this.t.headBytes}) was never written (the image's header goes there last)`);
    await this.dispatchWaiting();
    await this.datasync();
    this.advancePrefix();
    if (this.prefixEnd !== this.nextPartNumber - 1) {
      throw sinkFailure(new Error(`parts up to ${this.nextPartNumber - 1} were sent, only 2..${this.prefixEnd} confirmed`), `completing ${this.where}`);
    }
    try {
      const head = await this.t.client.send(
        new UploadPartCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId: this.uploadId, PartNumber: 1, Body: this.head, ContentLength: this.t.headBytes }),
        { abortSignal: this.aborter.signal },
      );
      if (!head.ETag) throw new Error('UploadPart 1 returned no ETag');
      const parts = [{ PartNumber: 1, ETag: head.ETag }];
      for (let n = 2; n <= this.prefixEnd; n++) parts.push({ PartNumber: n, ETag: this.completed.get(n)!.etag });
      const out = await this.t.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId: this.uploadId, MultipartUpload: { Parts: parts } }),
      );
      if (!out.ETag) throw new Error('CompleteMultipartUpload returned no ETag');
      this.done = { etag: out.ETag, bytes: this.durableLength() };
    } catch (err) {
      throw sinkFailure(err, `completing ${this.where}`);
    }
    this.head = undefined;
    return { name: this.name, uri: this.where, sizeBytes: this.done.bytes };
  }

  /** Streams the completed object back (only that very object: If-Match its ETag) through SHA-256. */
  async sha256(): Promise<string> {
    const done = this.done;
    if (!done) throw refusal(`${this.where}: sha256 refused: the upload is not complete (call finish first)`);
    try {
      const out = await this.t.client.send(new GetObjectCommand({ Bucket: this.t.bucket, Key: this.t.key, IfMatch: done.etag }));
      if (!out.Body) throw new Error('GetObject returned no body');
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      if (bytes !== done.bytes) throw new Error(`read ${bytes} bytes back, the upload completed with ${done.bytes}`);
      return hash.digest('hex');
    } catch (err) {
      throw sinkFailure(err, `hashing ${this.where}`);
    }
  }

  /** Stops the part uploads in flight (never reported durable) and keeps the upload for a resume. */
  async close(): Promise<void> {
    this.closed = true;
    this.aborter.abort();
    await Promise.allSettled([...this.inFlight]);
    this.filling = undefined;
    this.waitingBytes = 0;
    this.pool = [];
    this.head = undefined;
  }

  async abort(): Promise<void> {
    await this.close();
    try {
      await this.t.client.send(new AbortMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId: this.uploadId })).catch(ignoreNoSuchUpload);
      // A hidden object this attempt completed; a final one is the caller's to remove.
      if (this.done && this.t.stage) await this.t.client.send(new DeleteObjectCommand({ Bucket: this.t.bucket, Key: this.t.key }));
    } catch (err) {
      throw sinkFailure(err, `aborting ${this.where}`);
    }
  }

  // --- parts -----------------------------------------------------------------

  /** Uploads the waiting bytes as the next part; waits while `queueSize` uploads already run (bounded memory). */
  private async dispatchWaiting(): Promise<void> {
    if (this.waitingBytes === 0) return;
    while (this.inFlight.size >= this.t.queueSize) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
    const partNumber = this.nextPartNumber;
    if (partNumber > MAX_PARTS) {
      throw refusal(`${this.where}: more than ${MAX_PARTS} parts of ${this.t.partSizeBytes} bytes; the image is larger than the size the part size was chosen for`);
    }
    const buffer = this.filling!;
    const body = buffer.subarray(0, this.waitingBytes);
    this.nextPartNumber++;
    this.dispatchedBytes += body.length;
    this.filling = undefined;
    this.waitingBytes = 0;
    const p: Promise<void> = this.uploadPart(partNumber, body).finally(() => {
      this.inFlight.delete(p);
      this.release(buffer); // the request is over: nothing reads the body any more
    });
    this.inFlight.add(p);
  }

  /** The part buffer, with room for `bytes` more (a pooled one, or a larger one-off copy for an oversized writev). */
  private room(bytes: number): Buffer {
    const needed = this.waitingBytes + bytes;
    let filling = this.filling;
    if (!filling) filling = this.pool.pop() ?? Buffer.allocUnsafe(Math.max(this.bufferBytes, needed));
    if (filling.length < needed) {
      const larger = Buffer.allocUnsafe(needed);
      filling.copy(larger, 0, 0, this.waitingBytes);
      this.release(filling);
      filling = larger;
    }
    this.filling = filling;
    return filling;
  }

  private release(buffer: Buffer | undefined): void {
    if (buffer && buffer.length === this.bufferBytes && !this.closed && this.pool.length <= this.t.queueSize) this.pool.push(buffer);
  }

  /** Never rejects: a failure is kept and thrown by the next call. */
  private async uploadPart(partNumber: number, body: Buffer): Promise<void> {
    try {
      const out = await this.t.client.send(
        new UploadPartCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId: this.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
        { abortSignal: this.aborter.signal },
      );
      if (!out.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
      this.completed.set(partNumber, { partNumber, etag: out.ETag, sizeBytes: body.length });
      this.advancePrefix();
    } catch (err) {
      this.failure ??= sinkFailure(err, `uploading part ${partNumber} of ${this.where}`);
    }
  }

  /** Extends the durable prefix over parts confirmed since (they may finish out of order). */
  private advancePrefix(): void {
    for (let next = this.completed.get(this.prefixEnd + 1); next; next = this.completed.get(this.prefixEnd + 1)) {
      this.prefixDigest.add(next);
      this.prefixBytes += next.sizeBytes;
      this.prefixEnd++;
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private assertOpen(call: string): void {
    if (this.closed) throw refusal(`${this.where}: ${call} refused: the image file was closed`);
  }
}
