// An S3 client for the harness's MinIO, as a test sees the bucket: an independent
// reader of what the exports wrote (the AWS SDK, not the project's sink).
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { ServiceInfo } from './services.js';

type MinioAccess = Pick<ServiceInfo['minio'], 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>;

export function minioClient(services: { minio: MinioAccess }): S3Client {
  const { minio } = services;
  return new S3Client({
    endpoint: minio.endpoint,
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
  });
}

/** Makes the bucket the exports of a test project write to (global setups). */
export async function createBucket(minio: MinioAccess, bucket: string): Promise<void> {
  const s3 = minioClient({ minio });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
}
