// An S3 (or S3-compatible) prefix as the output of an export.
//
// Options
//   client        an S3Client (the caller owns it: endpoint, credentials, path style)
//   bucket        the bucket
//   prefix        key prefix, "" or ending in "/"; file names are appended to it
//   queueSize     part uploads in flight per disk while the next part fills (default 2)
//   partSizeBytes fixed part size; default chosen per disk by choosePartSize(sizeBytes):
//                 max(8 MiB, size/9000 rounded up to MiB) so 10,000 parts always suffice
//
// Memory cost per disk being written (lib-storage style): (queueSize + 1) × partSize,
// i.e. 24 MiB for disks under ~70 GiB with the defaults, ~3 × size/9000 above that
// (a 1 TiB disk: 117 MiB parts, ~350 MiB; lower queueSize to 1 for ~234 MiB).
// Nothing is staged on local disk.
//
// Disk images written by offset (openImageFile: qcow2, the header last) go into
// one multipart upload each, their reserved head uploaded last as part 1 (see
// s3-image-file.ts); memory (queueSize + 1) × (partSize + 8 MiB) plus the head.
// Staged, the upload completes under "<prefix>.hypersdk/<name>.image" and
// publish() copies that object to the final key server-side.
//
// Durability and resume: a part is durable when UploadPart answered; checkpoints
// carry the upload id and the completed parts (number, ETag, size), and a resumed
// writer checks them with ListParts. Bytes re-sent after an interruption are at
// most the parts in flight plus the filling one. The object appears only at
// CompleteMultipartUpload. Cancellation leaves the upload for the caller to
// abort (writer.abort() or remove(name)); remove() aborts every upload of the key.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { validateRelativeName } from './local-paths.js';
import { choosePartSize } from './s3-part-size.js';
import { abortUploadsOfKey, openS3DiskWriter, publishStagedUpload } from './s3-disk-writer.js';
import { compactS3State } from './s3-parts-digest.js';
import { MIN_S3_PART_BYTES, openS3ImageFile } from './s3-image-file.js';
import { publishStagedImage } from './s3-image-publish.js';
import type { DiskWriter, FinishedFile, FinishedFileReader, ImageFile, OpenDiskWriterOptions, OpenImageFileOptions, OutputSink, StagedDiskRecord } from './sink.js';
import { sinkFailure } from './sink-errors.js';
import { isNotFound, openS3ObjectReader } from './s3-object-reader.js';

/** Where staging records live under the prefix (a leading dot: never a valid export file name). */
const STAGING_DIR = '.hypersdk';

export interface S3SinkOptions {
  client: S3Client;
  bucket: string;
  prefix: string;
  queueSize?: number;
  partSizeBytes?: number;
}

export class S3Sink implements OutputSink {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly queueSize: number;
  private readonly partSizeBytes: number | undefined;

  constructor(options: S3SinkOptions) {
    if (options.prefix !== '' && !options.prefix.endsWith('/')) throw new Error('S3 prefix must be empty or end with "/"');
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.queueSize = Math.max(1, options.queueSize ?? 2);
    this.partSizeBytes = options.partSizeBytes;
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  private key(name: string): string {
    validateRelativeName(name);
    return `${this.prefix}${name}`;
  }

  openDiskWriter(name: string, options: OpenDiskWriterOptions): Promise<DiskWriter> {
    return openS3DiskWriter(
      {
        client: this.client,
        bucket: this.bucket,
        key: this.key(name),
        name,
        partSizeBytes: this.partSizeBytes ?? choosePartSize(options.sizeBytes),
        queueSize: this.queueSize,
        ...(options.stage ? { stage: true } : {}),
      },
      options,
    );
  }

  /**
   * A disk image written by offset (s3-image-file.ts). Staged, its upload lives
   * under a hidden key ("<prefix>.hypersdk/<name>.image") and completes there;
   * publish() copies it to the final key.
   */
  openImageFile(name: string, options: OpenImageFileOptions): Promise<ImageFile> {
    return openS3ImageFile(
      {
        client: this.client,
        bucket: this.bucket,
        key: options.stage ? this.imageKey(name) : this.key(name),
        name,
        partSizeBytes: Math.max(MIN_S3_PART_BYTES, this.partSizeBytes ?? choosePartSize(options.sizeHint)),
        headBytes: options.headBytes,
        queueSize: this.queueSize,
        stage: options.stage === true,
      },
      options.resume,
    );
  }

  /** Where a staged image is uploaded and completed, out of listComplete()'s sight. */
  private imageKey(name: string): string {
    validateRelativeName(name);
    return `${this.prefix}${STAGING_DIR}/${name}.image`;
  }

  /** Aborts the uploads of a staged image and deletes its hidden object. */
  private async removeStagedImage(name: string): Promise<void> {
    const hidden = this.imageKey(name);
    await abortUploadsOfKey(this.client, this.bucket, hidden);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: hidden }));
  }

  async writeFile(name: string, data: Buffer | string): Promise<FinishedFile> {
    const key = this.key(name);
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      // A single PUT is atomic: readers see the old object or the whole new one.
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
    } catch (err) {
      throw sinkFailure(err, `writing s3://${this.bucket}/${key}`);
    }
    return { name, uri: this.describe(name), sizeBytes: body.length };
  }

  async remove(name: string): Promise<void> {
    const key = this.key(name);
    try {
      await abortUploadsOfKey(this.client, this.bucket, key);
      await this.removeStagedImage(name);
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw sinkFailure(err, `removing s3://${this.bucket}/${key}`);
    }
  }

  /**
   * Staging on S3: a disk's multipart upload stays open (its parts invisible)
   * until publish() completes it; its record is a small object under
   * "<prefix>.hypersdk/", which listComplete() never shows.
   */
  readonly stages = true;
  readonly imagesSeekable = false;

  private recordKey(name: string): string {
    validateRelativeName(name);
    return `${this.prefix}${STAGING_DIR}/${name}.state.json`;
  }

  async existing(names: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const name of names) if ((await this.head(this.key(name))) !== undefined) found.push(name);
    return found;
  }

  private async head(key: string): Promise<number | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw sinkFailure(err, `checking s3://${this.bucket}/${key}`);
    }
  }

  async readStaged(name: string): Promise<StagedDiskRecord | undefined> {
    const key = this.recordKey(name);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const record = JSON.parse((await out.Body?.transformToString('utf8')) ?? '') as StagedDiskRecord;
      return record?.version === 1 && typeof record.jobId === 'string' ? record : undefined;
    } catch (err) {
      if (isNotFound(err) || err instanceof SyntaxError) return undefined;
      throw sinkFailure(err, `reading s3://${this.bucket}/${key}`);
    }
  }

  async writeStaged(name: string, record: StagedDiskRecord): Promise<void> {
    const key = this.recordKey(name);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: JSON.stringify(record), ContentType: 'application/json' }));
    } catch (err) {
      throw sinkFailure(err, `writing s3://${this.bucket}/${key}`);
    }
  }

  async publish(name: string): Promise<FinishedFile> {
    const key = this.key(name);
    const record = await this.readStaged(name);
    try {
      if (record?.sinkState?.kind === 's3-image') {
        // An image completed under its hidden key: copied to the final key, then the hidden one goes.
        await publishStagedImage(this.client, this.bucket, { hidden: this.imageKey(name), final: key }, record);
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.recordKey(name) }));
      } else if (record) {
        const saved = record.sinkState?.kind === 's3' && record.sinkState.key === key ? record.sinkState : undefined;
        // Records written by earlier versions list every part: compacted, they check the same way.
        const upload = saved && compactS3State(saved);
        if (!record.verified || record.bytes === undefined || !upload) throw new Error('the staged upload is not verified');
        await publishStagedUpload(
          { client: this.client, bucket: this.bucket, key },
          { uploadId: upload.uploadId, partSizeBytes: upload.partSizeBytes, sizeBytes: record.bytes, partsDone: upload.partsDone, partsDigest: upload.partsDigest },
        );
        // Leftovers of attempts that never checkpointed: not part of the object.
        await abortUploadsOfKey(this.client, this.bucket, key);
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.recordKey(name) }));
      }
    } catch (err) {
      throw sinkFailure(err, `publishing s3://${this.bucket}/${key}`);
    }
    // No record: a retry after the upload was completed and its record removed.
    const size = await this.head(key);
    if (size === undefined) throw sinkFailure(new Error('object not found'), `publishing s3://${this.bucket}/${key}`);
    return { name, uri: this.describe(name), sizeBytes: size };
  }

  /** Aborts the key's unfinished uploads, removes a staged image (its upload and hidden object) and drops the record; a final object is removed only by remove(). */
  async discardStaged(name: string): Promise<void> {
    const key = this.key(name);
    try {
      await abortUploadsOfKey(this.client, this.bucket, key);
      await this.removeStagedImage(name);
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.recordKey(name) }));
    } catch (err) {
      throw sinkFailure(err, `discarding the staged upload of s3://${this.bucket}/${key}`);
    }
  }

  /** The published object, read with ranged GETs held to the ETag it has now. */
  openFinished(name: string): Promise<FinishedFileReader> {
    return openS3ObjectReader({ client: this.client, bucket: this.bucket, key: this.key(name) });
  }

  describe(name: string): string {
    return `s3://${this.bucket}/${this.key(name)}`;
  }

  async listComplete(): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) {
        const name = o.Key?.slice(this.prefix.length);
        // Staging records (".hypersdk/…") are not files of the export.
        if (name && !name.split('/').some((s) => s.startsWith('.'))) names.push(name);
      }
      if (!out.IsTruncated) break;
      token = out.NextContinuationToken;
    }
    return names.sort();
  }
}
