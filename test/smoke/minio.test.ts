import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';

describe('MinIO', () => {
  it('reads back an object byte-identical to what was put', async () => {
    const { minio } = inject('services');
    const s3 = new S3Client({
      endpoint: minio.endpoint,
      region: minio.region,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
    });
    const body = randomBytes(5 * 1024 * 1024 + 17);
    const key = `smoke/${randomBytes(4).toString('hex')}.bin`;
    await s3.send(new PutObjectCommand({ Bucket: minio.bucket, Key: key, Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: minio.bucket, Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.length).toBe(body.length);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    s3.destroy();
  });
});
