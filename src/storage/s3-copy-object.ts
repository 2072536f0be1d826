// Server-side copy of one whole object (a staged image to its final key): one
// CopyObject up to 5 GiB (S3's limit for it), a multipart copy (UploadPartCopy)
// above. Every request names the source's ETag (If-Match), so only the object
// that was verified is ever copied, never a later one under the same key.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { abortUploadsOfKey, ignoreNoSuchUpload } from './s3-disk-writer.js';
import { choosePartSize, MAX_PART_BYTES, MAX_PARTS } from './s3-part-size.js';

export interface CopyWholeObjectOptions {
  /** The source's size and ETag (from the upload that made it). */
  bytes: number;
  etag: string;
  /** User metadata of the copy (x-amz-meta-*). */
  metadata?: Record<string, string>;
  /** Largest object copied in one request (S3: 5 GiB); tests lower it to reach the multipart path. */
  singleCopyMaxBytes?: number;
  /** Part size of a multipart copy (default: large parts, at most 10,000 of them). */
  partBytes?: number;
  /** UploadPartCopy requests in flight. */
  concurrency?: number;
}

const COPY_PART_BYTES = 512 * 1024 * 1024;

/** "bucket/key" as x-amz-copy-source wants it: each key segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export async function copyWholeObject(client: S3Client, bucket: string, from: string, to: string, o: CopyWholeObjectOptions): Promise<void> {
  const source = copySource(bucket, from);
  if (o.bytes <= (o.singleCopyMaxBytes ?? MAX_PART_BYTES)) {
    await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, CopySourceIfMatch: o.etag, MetadataDirective: 'REPLACE', Metadata: o.metadata }),
    );
    return;
  }
  const partBytes = o.partBytes ?? Math.min(MAX_PART_BYTES, Math.max(COPY_PART_BYTES, choosePartSize(o.bytes)));
  const count = Math.ceil(o.bytes / partBytes);
  if (count > MAX_PARTS) throw new Error(`copying ${o.bytes} bytes in parts of ${partBytes} needs ${count} parts, over S3's ${MAX_PARTS}`);
  // Leftovers of an interrupted earlier copy to the same key.
  await abortUploadsOfKey(client, bucket, to);
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: to, Metadata: o.metadata }));
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  try {
    const etags: string[] = new Array<string>(count);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) {
        const start = i * partBytes;
        const end = Math.min(o.bytes, start + partBytes) - 1;
        const out = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: to,
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: source,
            CopySourceIfMatch: o.etag,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        const etag = out.CopyPartResult?.ETag;
        if (!etag) throw new Error(`UploadPartCopy ${i + 1} returned no ETag`);
        etags[i] = etag;
      }
    };
    await Promise.all(Array.from({ length: Math.min(count, Math.max(1, o.concurrency ?? 4)) }, worker));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: to,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
      }),
    );
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: uploadId })).catch(ignoreNoSuchUpload);
    throw err;
  }
}
