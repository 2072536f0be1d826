// An S3 client for the harness's MinIO, as a test sees the bucket: an independent
// reader of what the exports wrote (the AWS SDK, not the project's sink).
import { S3Client } from '@aws-sdk/client-s3';
import type { ServiceInfo } from './services.js';

export function minioClient(services: Pick<ServiceInfo, 'minio'>): S3Client {
  const { minio } = services;
  return new S3Client({
    endpoint: minio.endpoint,
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
  });
}
