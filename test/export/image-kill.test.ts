// kill -9 of the worker while it writes a qcow2, raw or vhd image: a new worker
// finishes the export, resuming the qcow2, raw or vhd image from its heartbeated
// checkpoint where the source serves ranges (datastore), and qemu-img finds the
// image identical to the disk and the reported SHA-256 is the image's. (A raw or
// vhd upload's resume: test/storage/s3-raw-stream.test.ts, test/aws/kill-resume.test.ts.) Transfers run through toxiproxy with a bandwidth limit so there is
// time to kill the worker mid-way.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExportWorkflowInput } from '../../src/core/export-contract.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy, expectVhdCopy } from '../../src/formats/qcow2/test-judge.js';
import type { ServiceInfo } from '../harness/services.js';
import { exportInput, KILLED_TRANSFER_NOTICED_MS, temporalClient, testConfig } from '../harness/export-env.js';
import { minioClient } from '../harness/minio-client.js';
import type { Proxy } from '../harness/toxiproxy.js';
import { diskLocalPath, vmDisks } from '../harness/vcsim-disks.js';
import { spawnWorker } from '../harness/worker-process.js';
import { createTestVm, startExport, throttledVcsim, transferResults, waitForTransfers } from './helpers.js';
import { writePatternedDisk } from './patterned-disk.js';

const harness = inject('services');
const MiB = 1024 * 1024;
const DISK = 160 * MiB;
let proxy: Proxy;
let services: ServiceInfo;
let stop: () => Promise<void>;

beforeAll(async () => {
  // ~48 MB/s: a 160 MiB disk takes ~3.5 s, long enough to kill the worker mid-way.
  ({ services, proxy, stop } = await throttledVcsim(harness, 'image-kill', 48 * 1024));
});
afterAll(async () => {
  await stop?.();
});

type Case = { format: 'qcow2' | 'raw' | 'vhd'; method: 'datastore' | 'ovf'; sink: 'local' | 's3'; resumes: boolean };

describe('kill -9 of the worker while it writes an image', () => {
  it.each<Case>([
    { format: 'qcow2', method: 'datastore', sink: 'local', resumes: true },
    { format: 'qcow2', method: 'datastore', sink: 's3', resumes: true },
    { format: 'raw', method: 'datastore', sink: 'local', resumes: true },
    { format: 'vhd', method: 'datastore', sink: 'local', resumes: true },
    { format: 'raw', method: 'ovf', sink: 'local', resumes: false },
  ])('$format via $method to $sink: the new worker ends with an image identical to the disk (resumes: $resumes)', async ({ format, method, sink, resumes }) => {
    const config = testConfig(services, { vcsimHost: proxy.listen, heartbeatIntervalMs: 1_000 });
    const name = `kill-${format}-${sink}-${randomBytes(3).toString('hex')}`;
    const poweredOn = method === 'ovf';
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: DISK, poweredOn });
    // A thin disk's long zero runs add nothing to an upload: on S3 the durable point
    // moves only with whole parts of stored data, so that case uses a full disk.
    const backing = (await vmDisks(services, name))[0]!.backingFile;
    const source = sink === 's3' ? { path: await diskLocalPath(services, backing) } : await writePatternedDisk(services, backing, DISK, name);
    const temporal = await temporalClient(config);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const target: ExportWorkflowInput['sink'] =
      sink === 'local' ? { kind: 'local', directory: outDir } : { kind: 's3', bucket: services.minio.bucket, prefix: `${name}/` };
    const first = await spawnWorker(config, services.workDir, `${name}-a`);
    let second: Awaited<ReturnType<typeof spawnWorker>> | undefined;
    try {
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(`kill-${name}`, vm.path, target, { method, format, options: { snapshot: poweredOn }, transferHeartbeatTimeoutMs: KILLED_TRANSFER_NOTICED_MS }),
      );
      const beats = await waitForTransfers(handle, (b) => b.some((t) => t.bytesDone >= 0.35 * DISK));
      await first.kill('SIGKILL');
      const checkpointAtKill = Math.max(...beats.map((b) => b.bytesDone));
      second = await spawnWorker(config, services.workDir, `${name}-b`);
      const result = await handle.result();

      const image = `${name}-disk1.${format}`;
      let imagePath = join(outDir, image);
      if (sink === 's3') {
        const got = await minioClient(services).send(new GetObjectCommand({ Bucket: services.minio.bucket, Key: `${name}/${image}` }));
        mkdirSync(outDir, { recursive: true });
        imagePath = join(outDir, `downloaded-${image}`);
        writeFileSync(imagePath, await got.Body!.transformToByteArray());
      } else {
        expect(readdirSync(outDir).filter((n) => n.startsWith('.'))).toEqual([]);
      }
      if (format === 'qcow2') await expectValidCopy(imagePath, source.path, DISK);
      else if (format === 'vhd') await expectVhdCopy(imagePath, source.path, DISK);
      else {
        const compare = await qemuImg('compare', '-f', 'raw', '-F', 'raw', imagePath, source.path);
        expect(compare.stdout).toContain('Images are identical');
      }

      const [transfer] = await transferResults(handle);
      expect(transfer!.restartedFromZero).toBe(!resumes);
      if (resumes) {
        expect(transfer!.resumedFromOffset).toBeGreaterThan(0);
        expect(transfer!.resumedFromOffset).toBeGreaterThanOrEqual(checkpointAtKill - 2 * MiB);
        console.log(`kill -9 (${format}, ${sink}): heartbeat at ${(checkpointAtKill / MiB).toFixed(1)} MiB, resumed from ${(transfer!.resumedFromOffset / MiB).toFixed(1)} MiB`);
      }
      // The SHA-256 the export reports is the image's, across the kill.
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(imagePath)) hash.update(chunk as Buffer);
      expect(result.files.find((f) => f.name === image)?.sha256).toBe(hash.digest('hex'));
    } finally {
      await first.kill();
      await second?.kill('SIGTERM');
      await temporal.close();
    }
  });
});
