// A published object read back by offset: each read is one ranged GET, held to
// the ETag the object had when it was opened (If-Match), so an object replaced
// while an incremental export reads it fails the read (412) instead of mixing
// two versions' bytes into one image.
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { FinishedFileReader } from './sink.js';
import { sinkFailure } from './sink-errors.js';

export interface S3ObjectLocation {
  client: S3Client;
  bucket: string;
  key: string;
}

/** Rejects with an error whose code is ENOENT when there is no such object. */
export async function openS3ObjectReader(at: S3ObjectLocation): Promise<FinishedFileReader> {
  const uri = `s3://${at.bucket}/${at.key}`;
  let size: number;
  let etag: string;
  try {
    const head = await at.client.send(new HeadObjectCommand({ Bucket: at.bucket, Key: at.key }));
    size = head.ContentLength ?? 0;
    etag = head.ETag ?? '';
  } catch (err) {
    if (isNotFound(err)) throw Object.assign(new Error(`${uri} does not exist`), { code: 'ENOENT' });
    throw sinkFailure(err, `reading ${uri}`);
  }
  return {
    uri,
    sizeBytes: size,
    version: etag,
    // An object has no holes: reading all of it costs its whole size, whatever it holds.
    cheapScan: false,
    read: (buffer, offset, length, position) => readRange(at, uri, etag, size, buffer, offset, length, position),
    close: () => Promise.resolve(),
  };
}

async function readRange(
  at: S3ObjectLocation,
  uri: string,
  etag: string,
  size: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<{ bytesRead: number }> {
  const end = Math.min(position + length, size);
  if (end <= position) return { bytesRead: 0 };
  let filled = 0;
  try {
    const out = await at.client.send(
      new GetObjectCommand({ Bucket: at.bucket, Key: at.key, Range: `bytes=${position}-${end - 1}`, ...(etag ? { IfMatch: etag } : {}) }),
    );
    for await (const chunk of out.Body as Readable) {
      const piece = chunk as Buffer;
      if (filled + piece.length > end - position) throw new Error(`more than the ${end - position} bytes asked for at ${position}`);
      filled += piece.copy(buffer, offset + filled);
    }
  } catch (err) {
    if (statusOf(err) === 412) throw new Error(`${uri} changed while it was read back (its ETag is no longer ${etag})`);
    throw sinkFailure(err, `reading bytes ${position}-${end - 1} of ${uri}`);
  }
  return { bytesRead: filled };
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export function isNotFound(err: unknown): boolean {
  const code = (err as { name?: string }).name;
  return statusOf(err) === 404 || code === 'NoSuchKey' || code === 'NotFound';
}
