// Publishing a staged image: its upload was completed under a hidden key (the
// record's sinkState says which object, by ETag and size), and publish copies
// that very object to the final key, then deletes the hidden one. Idempotent: a
// retry after the copy finds no hidden object and accepts the final one when its
// metadata names the hidden object's ETag, i.e. it is that copy.
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortUploadsOfKey } from './s3-disk-writer.js';
import { copyWholeObject, type CopyWholeObjectOptions } from './s3-copy-object.js';
import type { StagedDiskRecord } from './sink.js';

/** x-amz-meta-* key on the published copy: the ETag of the staged object it was copied from. */
const COPIED_FROM_ETAG = 'hypersdk-staged-etag';

const unquoted = (etag: string | undefined): string | undefined => etag?.replace(/^"(.*)"$/, '$1');

async function headObject(client: S3Client, bucket: string, key: string): Promise<{ bytes: number; etag?: string; metadata: Record<string, string> } | undefined> {
  try {
    const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { bytes: out.ContentLength ?? 0, ...(out.ETag ? { etag: out.ETag } : {}), metadata: out.Metadata ?? {} };
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (err as { name?: string }).name === 'NotFound') return undefined;
    throw err;
  }
}

export async function publishStagedImage(
  client: S3Client,
  bucket: string,
  keys: { hidden: string; final: string },
  record: StagedDiskRecord,
  copyOptions: Pick<CopyWholeObjectOptions, 'singleCopyMaxBytes' | 'partBytes'> = {},
): Promise<void> {
  const state = record.sinkState?.kind === 's3-image' ? record.sinkState : undefined;
  const done = state?.completed;
  if (!record.verified || record.bytes === undefined || !state || state.key !== keys.hidden || !done || done.bytes !== record.bytes) {
    throw new Error('the staged image is not verified (no completed upload of its size under its staging key)');
  }
  const hidden = await headObject(client, bucket, keys.hidden);
  if (hidden) {
    if (unquoted(hidden.etag) !== unquoted(done.etag) || hidden.bytes !== done.bytes) {
      throw new Error(`the staged object ${keys.hidden} (${hidden.bytes} bytes, ETag ${hidden.etag}) is not the verified one (${done.bytes} bytes, ETag ${done.etag})`);
    }
    await copyWholeObject(client, bucket, keys.hidden, keys.final, {
      bytes: done.bytes,
      etag: done.etag,
      metadata: { [COPIED_FROM_ETAG]: unquoted(done.etag) ?? '' },
      ...copyOptions,
    });
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keys.hidden }));
  } else {
    // A retry after the copy and the delete: the final object must be that copy.
    const final = await headObject(client, bucket, keys.final);
    if (!final || final.bytes !== done.bytes || final.metadata[COPIED_FROM_ETAG] !== unquoted(done.etag)) {
      throw new Error(`neither the staged object ${keys.hidden} nor a copy of it under ${keys.final} exists`);
    }
  }
  // Uploads of attempts that never completed (their state was superseded).
  await abortUploadsOfKey(client, bucket, keys.hidden);
}
