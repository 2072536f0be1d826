// Exports to raw, qcow2 and vhd through the whole workflow, from vcsim's datastore
// (the flat extent, ranged reads) and from its NFC lease, judged by qemu-img:
// `check` on every qcow2, `compare` of every image with the disk it came from
// (a vhd read by its vpc driver, at exactly the disk's size).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { ExportWorkflowInput } from '../../src/core/export-contract.js';
import { parseManifest } from '../../src/export/ovf.js';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy, expectVhdCopy } from '../../src/formats/qcow2/test-judge.js';
import { VHD_FOOTER_SIZE } from '../../src/core/vhd-footer.js';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { createTestVm, sha256File, startExport } from './helpers.js';
import { writePatternedDisk } from './patterned-disk.js';
import { vmDisks } from '../harness/vcsim-disks.js';
import { minioClient } from '../harness/minio-client.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
const DISK_BYTES = 64 * MiB;
const temporal = useWorkerAndClient(config);

async function exportAs(vmPath: string, format: ExportWorkflowInput['format'], method: ExportWorkflowInput['method']) {
  const jobId = `img-${format}-${method}-${randomBytes(3).toString('hex')}`;
  const outDir = join(config.output.allowedRoots[0]!, jobId);
  // vcsim serves NFC only through ExportSnapshot: the ovf method exports a powered-on VM's snapshot.
  const options = method === 'ovf' ? { snapshot: true } : {};
  const handle = await startExport(temporal.client, config.temporal.taskQueue, exportInput(jobId, vmPath, { kind: 'local', directory: outDir }, { format, method, options }));
  return { result: await handle.result(), outDir };
}

describe.each([
  ['qcow2', 'datastore'],
  ['qcow2', 'ovf'],
  ['raw', 'ovf'],
  ['raw', 'datastore'],
  ['vhd', 'datastore'],
  ['vhd', 'ovf'],
] as const)('format %s, method %s', (format, method) => {
  it('writes images qemu-img finds identical to the source disks, an OVF that references them and a verifying manifest', async () => {
    const name = `img-${format}-${method}-${randomBytes(2).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: DISK_BYTES, poweredOn: method === 'ovf' });
    const disk = (await vmDisks(services, name))[0]!;
    const source = await writePatternedDisk(services, disk.backingFile, DISK_BYTES, name);

    const { result, outDir } = await exportAs(vm.path, format, method);

    const image = `${name}-disk1.${format}`;
    expect(readdirSync(outDir).sort()).toEqual([image, `${name}.mf`, `${name}.ovf`].sort());
    const imagePath = join(outDir, image);
    if (format === 'qcow2') {
      const { storedDataBytes } = await expectValidCopy(imagePath, source.path, DISK_BYTES);
      // Only the allocated clusters are stored (64 KiB granularity).
      expect(storedDataBytes).toBeLessThan(source.dataBytes + 8 * 64 * 1024);
      expect(statSync(imagePath).size).toBeLessThan(source.dataBytes + 2 * MiB);
    } else {
      if (format === 'vhd') await expectVhdCopy(imagePath, source.path, DISK_BYTES);
      else {
        const compare = await qemuImg('compare', '-f', 'raw', '-F', 'raw', imagePath, source.path);
        expect(compare.stdout).toContain('Images are identical');
        expect(compare.code).toBe(0);
      }
      expect(statSync(imagePath).size).toBe(DISK_BYTES + (format === 'vhd' ? VHD_FOOTER_SIZE : 0));
      // Sparse: the long zero runs are holes.
      expect(statSync(imagePath).blocks * 512).toBeLessThan(DISK_BYTES / 2);
    }

    const ovf = readFileSync(join(outDir, `${name}.ovf`), 'utf8');
    expect(ovf).toContain(`ovf:href="${image}"`);
    expect(ovf).toContain(format === 'qcow2' ? 'interop/qcow2.html' : format === 'vhd' ? 'download/details.aspx?id=23850' : 'qemu-block-drivers.html');
    const manifest = parseManifest(readFileSync(join(outDir, `${name}.mf`), 'utf8'));
    expect([...manifest.keys()].sort()).toEqual([image, `${name}.ovf`].sort());
    for (const [file, sha] of manifest) expect(await sha256File(join(outDir, file)), file).toBe(sha);
    expect(result.files.find((f) => f.name === image)?.sizeBytes).toBe(statSync(imagePath).size);
  });
});

describe.each([
  ['qcow2', 'datastore'],
  ['raw', 'ovf'],
  ['vhd', 'datastore'],
] as const)('format %s, method %s, to S3', (format, method) => {
  it('uploads an image qemu-img finds identical to the source disk (after download), with a verifying manifest', async () => {
    const name = `img-s3-${format}-${method}-${randomBytes(2).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: DISK_BYTES, poweredOn: method === 'ovf' });
    const disk = (await vmDisks(services, name))[0]!;
    const source = await writePatternedDisk(services, disk.backingFile, DISK_BYTES, name);
    const jobId = `img-s3-${randomBytes(3).toString('hex')}`;
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(jobId, vm.path, { kind: 's3', bucket: services.minio.bucket, prefix: `${name}/` }, { format, method, options: method === 'ovf' ? { snapshot: true } : {} }),
    );
    const result = await handle.result();
    const s3 = minioClient(services);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: services.minio.bucket, Prefix: `${name}/` }));
    const image = `${name}-disk1.${format}`;
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([`${name}/${image}`, `${name}/${name}.mf`, `${name}/${name}.ovf`].sort());
    const local = join(config.output.allowedRoots[0]!, `${jobId}-${image}`);
    const got = await s3.send(new GetObjectCommand({ Bucket: services.minio.bucket, Key: `${name}/${image}` }));
    writeFileSync(local, await got.Body!.transformToByteArray());
    if (format === 'qcow2') await expectValidCopy(local, source.path, DISK_BYTES);
    else if (format === 'vhd') await expectVhdCopy(local, source.path, DISK_BYTES);
    else expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', local, source.path)).stdout).toContain('Images are identical');
    const mf = await s3.send(new GetObjectCommand({ Bucket: services.minio.bucket, Key: `${name}/${name}.mf` }));
    const manifest = parseManifest(await mf.Body!.transformToString());
    expect(manifest.get(image)).toBe(await sha256File(local));
    expect(result.files.find((f) => f.name === image)?.sha256).toBe(manifest.get(image));
  });
});
