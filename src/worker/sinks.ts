import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/types.js';
import type { SinkRef } from '../export/contract.js';
import { LocalSink } from '../storage/local-sink.js';
import type { OutputSink } from '../storage/sink.js';

/**
 * Opens the sink a workflow names; one S3 client per worker, built on first use.
 * The AWS SDK is imported then too: a worker that only ever writes local files
 * never holds its modules (about 5 MB of RSS).
 */
export function createSinkFactory(s3Settings: S3Settings): { open(ref: SinkRef): Promise<OutputSink>; close(): void } {
  let client: S3Client | undefined;
  const s3 = async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    return (client ??= new S3Client({
      region: s3Settings.region,
      forcePathStyle: s3Settings.forcePathStyle,
      ...(s3Settings.endpoint ? { endpoint: s3Settings.endpoint } : {}),
      ...(s3Settings.accessKeyId && s3Settings.secretAccessKey
        ? { credentials: { accessKeyId: s3Settings.accessKeyId, secretAccessKey: s3Settings.secretAccessKey } }
        : {}),
    }));
  };
  return {
    async open(ref) {
      if (ref.kind === 'local') return new LocalSink(ref.directory);
      const { S3Sink } = await import('../storage/s3-sink.js');
      return new S3Sink({ client: await s3(), bucket: ref.bucket, prefix: ref.prefix });
    },
    close() {
      client?.destroy();
    },
  };
}
