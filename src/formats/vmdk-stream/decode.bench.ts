// Throughput of the streamOptimized decoder on 256 MiB disks (random data,
// half-compressible data, mostly zeros), read from a file stream in 64 KiB chunks as an HTTP body would
// arrive. Reports MiB/s of guest data with a consumer that does nothing and with
// one that hashes the rebuilt raw image (zeros for the holes), Node's ArrayBuffer
// memory during the decode (peak as allocated, and live after a forced GC when
// run with --expose-gc), and qemu-img's own time to convert the same VMDK to raw
// for reference.
//
//   node --expose-gc --import tsx src/formats/vmdk-stream/decode.bench.ts [MiB]

import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeStreamOptimized } from './decoder.js';
import { makeTempDir, MiB, toStreamOptimized, writeRaw, type Piece } from './test-support.js';
import { qemuImgBinary } from '../test-support.js';

const sizeMiB = Number(process.argv[2] ?? '256');
const size = sizeMiB * MiB;
const ZEROS = Buffer.alloc(4 * MiB);

interface Run {
  seconds: number;
  peakArrayBuffersMiB: number;
  /** Largest live ArrayBuffer memory seen right after a GC (undefined without --expose-gc). */
  liveArrayBuffersKiB?: number;
  sha256?: string;
}

const forceGc = (globalThis as { gc?: () => void }).gc;

async function decode(vmdk: string, hash: boolean, sampleLive = false): Promise<Run> {
  forceGc?.();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let live = 0;
  const digest = createHash('sha256');
  let written = 0;
  const fillZeros = (upTo: number): void => {
    while (written < upTo) {
      const n = Math.min(ZEROS.length, upTo - written);
      digest.update(ZEROS.subarray(0, n));
      written += n;
    }
  };
  const started = performance.now();
  let events = 0;
  for await (const ev of decodeStreamOptimized(createReadStream(vmdk, { highWaterMark: 64 * 1024 }))) {
    if (ev.kind === 'data' && hash) {
      fillZeros(ev.offset);
      digest.update(ev.data);
      written += ev.data.length;
    } else if (ev.kind === 'end' && hash) {
      fillZeros(size);
    }
    events += 1;
    if (events % 64 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    if (sampleLive && forceGc !== undefined && events % 97 === 0) {
      forceGc();
      // ArrayBuffer backing stores are freed by a background sweeper after the GC: let it run.
      await new Promise((resolve) => setTimeout(resolve, 20));
      live = Math.max(live, process.memoryUsage().arrayBuffers - base);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds,
    peakArrayBuffersMiB: peak / MiB,
    ...(sampleLive && forceGc !== undefined ? { liveArrayBuffersKiB: live / 1024 } : {}),
    ...(hash ? { sha256: digest.digest('hex') } : {}),
  };
}

function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function main(): Promise<void> {
  const tmp = makeTempDir();
  try {
    const random = join(tmp.dir, 'random.raw');
    const chunk = Buffer.alloc(16 * MiB);
    const pieces: Piece[] = [];
    for (let at = 0; at < size; at += chunk.length) pieces.push({ offset: at, data: Buffer.from(randomFillSync(chunk)) });
    writeRaw(random, size, pieces);
    const sparse = join(tmp.dir, 'zeros.raw');
    // Mostly zeros: 16 random 256 KiB pieces spread over the disk (4 MiB of data), data at both ends.
    const few: Piece[] = [];
    for (let i = 0; i < 16; i += 1) few.push({ offset: Math.floor((i * (size - MiB)) / 15), data: randomFillSync(Buffer.alloc(MiB / 4)) });
    writeRaw(sparse, size, few);
    const half = join(tmp.dir, 'half.raw');
    // Half-compressible, like much of a real disk: random bytes from 16 values (deflate keeps ~55%).
    const halfPieces: Piece[] = [];
    for (let at = 0; at < size; at += chunk.length) {
      const data = randomFillSync(Buffer.alloc(chunk.length));
      for (let i = 0; i < data.length; i += 1) data[i] = data[i]! & 0x0f;
      halfPieces.push({ offset: at, data });
    }
    writeRaw(half, size, halfPieces);

    const cases = [['random (incompressible)', random], ['half-compressible', half], ['mostly zeros', sparse]] as const;
    for (const [name, raw] of cases) {
      const vmdk = raw.replace(/\.raw$/, '.vmdk');
      let t = performance.now();
      toStreamOptimized(raw, vmdk);
      const encodeS = (performance.now() - t) / 1000;
      t = performance.now();
      execFileSync(qemuImgBinary(), ['convert', '-f', 'vmdk', '-O', 'raw', vmdk, join(tmp.dir, 'qemu-out.raw')]);
      const qemuS = (performance.now() - t) / 1000;
      const plain = await decode(vmdk, false);
      const hashed = await decode(vmdk, true);
      const sampled = await decode(vmdk, false, true);
      const liveNote = sampled.liveArrayBuffersKiB === undefined ? '' : `, live after GC +${sampled.liveArrayBuffersKiB.toFixed(0)} KiB`;
      const ok = hashed.sha256 === fileSha256(raw);
      const mibps = (s: number): string => (sizeMiB / s).toFixed(0);
      console.log(
        `${name}: ${sizeMiB} MiB guest, VMDK ${(statSync(vmdk).size / MiB).toFixed(1)} MiB (qemu-img encode ${encodeS.toFixed(1)} s)\n` +
          `  decode only:      ${plain.seconds.toFixed(2)} s = ${mibps(plain.seconds)} MiB/s, ArrayBuffer memory peak +${plain.peakArrayBuffersMiB.toFixed(1)} MiB${liveNote}\n` +
          `  decode + SHA-256: ${hashed.seconds.toFixed(2)} s = ${mibps(hashed.seconds)} MiB/s, SHA-256 ${ok ? 'equals' : 'DIFFERS FROM'} the original's\n` +
          `  qemu-img convert vmdk->raw (reference): ${qemuS.toFixed(2)} s = ${mibps(qemuS)} MiB/s`,
      );
      if (!ok) process.exitCode = 1;
    }
  } finally {
    tmp.cleanup();
  }
}

await main();
