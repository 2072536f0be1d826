import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Qcow2WriterError } from './errors.js';
import { expectValidCopy } from './test-judge.js';
import {
  expectedStoredBytes,
  feed,
  GiB,
  KiB,
  makeTempDir,
  MiB,
  randomBytes,
  randomSource,
  rng,
  writeRaw,
  type Source,
} from './test-support.js';
import type { Qcow2Output } from './output.js';
import { Qcow2Writer } from './writer.js';

const tmp = makeTempDir('writer');
afterAll(tmp.cleanup);
let counter = 0;

/** Writes the source through the writer and lets qemu-img judge the result. */
async function roundTrip(source: Source, clusterBits = 16, seed = 1, headBytes?: number) {
  const name = `img${counter++}`;
  const raw = join(tmp.dir, `${name}.raw`);
  const qcow2 = join(tmp.dir, `${name}.qcow2`);
  await writeRaw(source, raw);
  const fh = await open(qcow2, 'w+');
  let result;
  try {
    const writer = await Qcow2Writer.create(fh, { virtualSize: source.virtualSize, clusterBits, headBytes });
    await feed(writer, source, 0, source.virtualSize, rng(seed));
    result = await writer.finish();
  } finally {
    await fh.close();
  }
  const cs = 2 ** clusterBits;
  const { storedDataBytes } = await expectValidCopy(qcow2, raw, source.virtualSize);
  // Only the clusters holding non-zero bytes are stored, all of them.
  expect(storedDataBytes).toBe(expectedStoredBytes(source, cs));
  expect((await stat(qcow2)).size).toBe(result.fileLength);
  expect(result.fileLength).toBe((result.dataClusters + result.metadataClusters) * cs);
  return { ...result, qcow2, raw };
}

describe('Qcow2Writer: images qemu-img finds valid and identical to their source', () => {
  it('data at the start, middle and end, long zero runs, a size that is not a whole number of clusters', async () => {
    const next = rng(11);
    const virtualSize = 40 * MiB + 3 * 512;
    const middle = randomBytes(1 * MiB, next);
    middle.fill(0, 200 * KiB, 456 * KiB); // whole zero clusters inside an extent: detected, not stored
    const source: Source = {
      virtualSize,
      extents: [
        { offset: 0, data: randomBytes(300 * KiB + 5, next) },
        { offset: 17 * MiB + 777, data: middle },
        { offset: virtualSize - 70_000, data: randomBytes(70_000, next) },
      ],
    };
    const r = await roundTrip(source);
    // 5 clusters at the start; the middle extent straddles 17, 3 of them all zeros; the end one straddles 3.
    expect(r.dataClusters).toBe(5 + 14 + 3);
    expect(r.metadataClusters).toBe(5); // header, one L2, L1, one refcount block, refcount table
    // The file holds the data, not the virtual size.
    expect(r.fileLength).toBeLessThan(2 * MiB);
  });

  it('a 1.5 GiB disk with data in regions 0, 1 (across their boundary) and 3 and none in region 2', async () => {
    const next = rng(12);
    const virtualSize = 1.5 * GiB + 64 * KiB + 512;
    const source: Source = {
      virtualSize,
      extents: [
        { offset: 0, data: randomBytes(64 * KiB, next) },
        { offset: 512 * MiB - 100 * KiB, data: randomBytes(200 * KiB, next) },
        { offset: virtualSize - 1000, data: randomBytes(1000, next) },
      ],
    };
    const r = await roundTrip(source);
    // header + three L2 tables (regions 0, 1, 3) + L1 + refcount block + refcount table
    expect(r.metadataClusters).toBe(7);
    // 1 + 4 (the 200 KiB straddle four clusters) + 2 (the last 1000 bytes straddle the last two)
    expect(r.dataClusters).toBe(1 + 4 + 2);
  });

  for (const seed of [21, 22, 23]) {
    it(`4 KiB clusters (2 MiB regions), 60 random extents with zero runs inside (seed ${seed})`, async () => {
      const virtualSize = 48 * MiB + 5 * 512;
      await roundTrip(randomSource(virtualSize, seed), 12, seed);
    });
  }

  for (const clusterBits of [16, 12, 9]) {
    it(`a 5 MiB head reserved for an S3 first part (${2 ** clusterBits}-byte clusters): its unused clusters have refcount 0`, async () => {
      const next = rng(24);
      const virtualSize = 24 * MiB;
      const source: Source = {
        virtualSize,
        extents: [
          { offset: 0, data: randomBytes(100 * KiB, next) },
          { offset: 9 * MiB + 3, data: randomBytes(2 * MiB, next) },
          { offset: virtualSize - 4096, data: randomBytes(4096, next) },
        ],
      };
      const r = await roundTrip(source, clusterBits, 3, 5 * MiB);
      expect(r.fileLength).toBeGreaterThan(5 * MiB + 2 * MiB);
      // Everything but the header is after the head: the head's rest is a hole that reads as zeros.
      const fh = await open(r.qcow2, 'r');
      const head = Buffer.alloc(5 * MiB - 2 ** clusterBits);
      await fh.read(head, 0, head.length, 2 ** clusterBits);
      await fh.close();
      expect(head.equals(Buffer.alloc(head.length))).toBe(true);
    });
  }

  it('an empty disk stores nothing but the metadata', async () => {
    const r = await roundTrip({ virtualSize: 8 * MiB, extents: [] });
    expect(r.dataClusters).toBe(0);
    expect(r.metadataClusters).toBe(4); // header, L1, refcount block, refcount table
  });

  it('a zero-length disk', async () => {
    const r = await roundTrip({ virtualSize: 0, extents: [] });
    expect(r.dataClusters).toBe(0);
  });

  it('a fully allocated small disk given as one buffer', async () => {
    const virtualSize = 4 * MiB;
    const r = await roundTrip({ virtualSize, extents: [{ offset: 0, data: randomBytes(virtualSize, rng(31)) }] });
    expect(r.dataClusters).toBe(64);
    expect(r.metadataClusters).toBe(5);
  });

  it('a fully allocated disk at 2 MiB clusters, the largest qemu opens', async () => {
    const virtualSize = 6 * MiB + 512;
    await roundTrip({ virtualSize, extents: [{ offset: 0, data: randomBytes(virtualSize, rng(32)) }] }, 21);
  });
});

describe('Qcow2Writer: output order', () => {
  it('appends every byte in file order, except the header cluster written last at offset 0', async () => {
    const writes: { position: number; length: number }[] = [];
    const fh = await open(join(tmp.dir, 'order.qcow2'), 'w+');
    const recorder: Qcow2Output = {
      write: (buf, offset, length, position) => {
        writes.push({ position, length });
        return fh.write(buf, offset, length, position);
      },
      writev: (buffers, position) => {
        writes.push({ position, length: buffers.reduce((n, b) => n + b.byteLength, 0) });
        return fh.writev(buffers, position);
      },
      read: (buf, offset, length, position) => fh.read(buf, offset, length, position),
      datasync: () => fh.datasync(),
      truncate: (len) => fh.truncate(len),
      stat: () => fh.stat(),
    };
    try {
      const next = rng(41);
      const virtualSize = 24 * MiB;
      const writer = await Qcow2Writer.create(recorder, { virtualSize, clusterBits: 12 });
      await feed(writer, { virtualSize, extents: [{ offset: 1 * MiB, data: randomBytes(6 * MiB, next) }, { offset: 20 * MiB, data: randomBytes(MiB, next) }] }, 0, virtualSize, next);
      await writer.checkpoint();
      const { fileLength } = await writer.finish();
      const header = writes.pop();
      expect(header).toEqual({ position: 0, length: 4096 });
      let end = 4096;
      for (const w of writes) {
        expect(w.position).toBe(end);
        end += w.length;
      }
      expect(end).toBe(fileLength);
    } finally {
      await fh.close();
    }
  });
});

describe('Qcow2Writer: refusals', () => {
  const fresh = async (virtualSize = 4 * MiB) => {
    const fh = await open(join(tmp.dir, `refuse${counter++}.qcow2`), 'w+');
    return { fh, writer: await Qcow2Writer.create(fh, { virtualSize }) };
  };
  const code = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Qcow2WriterError);
    return (err as Qcow2WriterError).code;
  };

  it('an extent before what was received, without spoiling the writer', async () => {
    const { fh, writer } = await fresh();
    await writer.write(100_000, Buffer.alloc(10, 1));
    expect(await code(writer.write(50_000, Buffer.alloc(10, 1)))).toBe('out-of-order');
    expect(await code(writer.skipZeros(100_005, 1))).toBe('out-of-order');
    await writer.finish();
    await fh.close();
  });

  it('an extent past the virtual size', async () => {
    const { fh, writer } = await fresh();
    expect(await code(writer.write(4 * MiB - 5, Buffer.alloc(10, 1)))).toBe('beyond-virtual-size');
    await fh.close();
  });

  it('a second call while one is running, and any call after finish', async () => {
    const { fh, writer } = await fresh();
    const first = writer.write(0, Buffer.alloc(MiB, 1));
    expect(await code(writer.write(MiB, Buffer.alloc(10, 1)))).toBe('busy');
    await first;
    await writer.finish();
    expect(await code(writer.write(2 * MiB, Buffer.alloc(10, 1)))).toBe('finished');
    await fh.close();
  });

  it('options qemu could not read or a checkpoint could not hold', async () => {
    const fh = await open(join(tmp.dir, 'options.qcow2'), 'w+');
    expect(await code(Qcow2Writer.create(fh, { virtualSize: MiB, clusterBits: 8 }))).toBe('bad-option');
    expect(await code(Qcow2Writer.create(fh, { virtualSize: MiB, clusterBits: 22 }))).toBe('bad-option');
    expect(await code(Qcow2Writer.create(fh, { virtualSize: MiB + 100 }))).toBe('bad-option');
    // 2 TiB at 4 KiB clusters is a million regions: one bit each is 128 KiB of state.
    expect(await code(Qcow2Writer.create(fh, { virtualSize: 2 * 1024 * GiB, clusterBits: 12 }))).toBe('bad-option');
    await fh.close();
  });
});
