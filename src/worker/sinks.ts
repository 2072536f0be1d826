import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/types.js';
import type { SinkRef } from '../export/contract.js';
import { LocalSink } from '../storage/local-sink.js';
import { S3Sink } from '../storage/s3-sink.js';
import type { OutputSink } from '../storage/sink.js';

/** Opens the sink a workflow names; one S3 client per worker, built on first use. */
export function createSinkFactory(s3Settings: S3Settings): { open(ref: SinkRef): OutputSink; close(): void } {
  let client: S3Client | undefined;
  const s3 = () =>
    (client ??= new S3Client({
      region: s3Settings.region,
      forcePathStyle: s3Settings.forcePathStyle,
      ...(s3Settings.endpoint ? { endpoint: s3Settings.endpoint } : {}),
      ...(s3Settings.accessKeyId && s3Settings.secretAccessKey
        ? { credentials: { accessKeyId: s3Settings.accessKeyId, secretAccessKey: s3Settings.secretAccessKey } }
        : {}),
    }));
  return {
    open(ref) {
      return ref.kind === 'local' ? new LocalSink(ref.directory) : new S3Sink({ client: s3(), bucket: ref.bucket, prefix: ref.prefix });
    },
    close() {
      client?.destroy();
    },
  };
}
