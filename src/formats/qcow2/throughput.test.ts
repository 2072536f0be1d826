// Throughput and memory on a 256 MiB fully allocated disk, the output judged by
// qemu-img, its SHA-256 by sha256sum. Figures go to the test's output; the
// floors asserted are low (two shared cores) but would catch a per-byte loop or
// a writer that holds the image in memory.
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256OfFile } from './sha256-file.js';
import { expectValidCopy } from './test-judge.js';
import { makeTempDir, MiB, qemuImg } from './test-support.js';
import { Qcow2Writer } from './writer.js';

const tmp = makeTempDir('throughput');
afterAll(tmp.cleanup);
const SIZE = 256 * MiB;
const CHUNK = 1 * MiB;

describe('Qcow2Writer throughput', () => {
  it('writes a 256 MiB fully allocated disk in bounded memory; qemu-img agrees; SHA-256 matches sha256sum', { timeout: 120_000 }, async () => {
    const raw = join(tmp.dir, 'full.raw');
    const qcow2 = join(tmp.dir, 'full.qcow2');
    const pattern = randomFillSync(Buffer.alloc(CHUNK));
    const chunk = Buffer.alloc(CHUNK);
    const fill = (i: number) => {
      pattern.copy(chunk);
      chunk.writeUInt32LE(i + 1, 0); // every MiB different, none zero
      for (let c = 65536; c < CHUNK; c += 65536) chunk.writeUInt32LE(i * 16 + c, c);
    };
    const rawHandle = await open(raw, 'w');
    for (let i = 0; i < SIZE / CHUNK; i++) {
      fill(i);
      await rawHandle.write(chunk, 0, CHUNK, i * CHUNK);
    }
    await rawHandle.close();

    const fh = await open(qcow2, 'w+');
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const started = performance.now();
    const writer = await Qcow2Writer.create(fh, { virtualSize: SIZE });
    for (let i = 0; i < SIZE / CHUNK; i++) {
      fill(i);
      await writer.write(i * CHUNK, chunk); // the same buffer every time: the writer keeps no reference after a write
      if (i % 32 === 31) await writer.checkpoint();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    const result = await writer.finish();
    const writeSeconds = (performance.now() - started) / 1000;
    const hashStarted = performance.now();
    const sha256 = await sha256OfFile(fh);
    const hashSeconds = (performance.now() - hashStarted) / 1000;
    await fh.close();

    const convertStarted = performance.now();
    const convert = await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, join(tmp.dir, 'convert.qcow2'));
    const convertSeconds = (performance.now() - convertStarted) / 1000;
    expect(convert.code).toBe(0);

    const writeMiBs = SIZE / MiB / writeSeconds;
    const hashMiBs = result.fileLength / MiB / hashSeconds;
    console.log(
      `qcow2 writer, 256 MiB fully allocated, 1 MiB writes, a checkpoint (fdatasync) every 32 MiB: ${writeMiBs.toFixed(0)} MiB/s ` +
        `(${writeSeconds.toFixed(2)} s); sha256OfFile afterwards: ${hashMiBs.toFixed(0)} MiB/s (${hashSeconds.toFixed(2)} s); ` +
        `qemu-img convert -O qcow2 of the same raw: ${(SIZE / MiB / convertSeconds).toFixed(0)} MiB/s (${convertSeconds.toFixed(2)} s); ` +
        `peak arrayBuffers growth ${((peak - baseline) / MiB).toFixed(2)} MiB`,
    );

    const { storedDataBytes } = await expectValidCopy(qcow2, raw, SIZE);
    expect(storedDataBytes).toBe(SIZE);
    expect(result.dataClusters).toBe(SIZE / 65536);
    const sha256sum = await promisify(execFile)('sha256sum', [qcow2]);
    expect(sha256sum.stdout.split(' ')[0]).toBe(sha256);
    expect(peak - baseline).toBeLessThan(16 * MiB);
    expect(writeMiBs).toBeGreaterThan(40);
  });
});
