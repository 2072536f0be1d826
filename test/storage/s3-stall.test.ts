// S3 that stops answering without closing the connection (a black-holed route):
// MinIO behind toxiproxy's `timeout` toxic, which holds every connection open and
// lets no byte through. The worker's S3 client must fail such a request once it
// has been idle for its limit (shortened here), as a retryable failure, instead of
// waiting forever while the transfer's activity keeps heartbeating; and work again
// once the route is back.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { OutputSink } from '../../src/storage/sink.js';
import { createSinkFactory } from '../../src/worker/sinks.js';
import { createProxy, type Proxy } from '../harness/toxiproxy.js';

const { minio, toxiproxy } = inject('services');
const IDLE_MS = 1_500;
let proxy: Proxy;
let sink: OutputSink;

beforeAll(async () => {
  proxy = await createProxy(toxiproxy.apiUrl, `s3-stall-${randomBytes(3).toString('hex')}`, new URL(minio.endpoint).host);
  const sinks = createSinkFactory(
    {
      endpoint: `http://${proxy.listen}`,
      region: minio.region,
      accessKeyId: minio.accessKeyId,
      secretAccessKey: minio.secretAccessKey,
      forcePathStyle: true,
      idleTimeoutMs: IDLE_MS,
    },
    { allowedRoots: [], allowedBuckets: [minio.bucket] },
  );
  sink = await sinks.open({ kind: 's3', bucket: minio.bucket, prefix: `s3-stall-${randomBytes(4).toString('hex')}/` });
  await sink.writeFile('before.txt', 'written while the route was up');
});

afterAll(async () => {
  await proxy?.remove();
});

it('fails a request to a stalled endpoint as retryable once it is idle for its limit, and works again once the route is back', async () => {
  await proxy.addToxic({ name: 'black-hole', type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } });
  try {
    const upload = sink.writeFile('during.bin', randomBytes(1 << 20));
    await expect(upload).rejects.toMatchObject({ nonRetryable: false, message: expect.stringMatching(/writing s3:\/\/.*during\.bin/) as unknown });
    await expect(sink.openFinished('before.txt')).rejects.toMatchObject({ nonRetryable: false });
  } finally {
    await proxy.removeToxic('black-hole');
  }
  await sink.writeFile('after.txt', 'written once the route was back');
  expect((await sink.openFinished('after.txt')).sizeBytes).toBe('written once the route was back'.length);
}, 60_000);
