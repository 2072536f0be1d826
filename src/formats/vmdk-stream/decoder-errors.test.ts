import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { maxCompressedGrainBytes } from './decoder.js';
import { VmdkStreamError, type VmdkStreamErrorCode } from './errors.js';
import {
  chunked,
  encodeEsxiLayout,
  KiB,
  makeTempDir,
  MiB,
  randomBytes,
  rebuildRaw,
  sha256,
  toStreamOptimized,
  writeRaw,
} from './test-support.js';
import { qemuImgBinary } from '../test-support.js';

const tmp = makeTempDir();
afterAll(tmp.cleanup);

/** Decodes `bytes` (in 3000-byte chunks) and returns the error it must end with. */
async function decodeError(bytes: Buffer, maxChunk = 3000): Promise<VmdkStreamError> {
  try {
    await rebuildRaw(chunked(bytes, 7, maxChunk));
  } catch (err) {
    if (err instanceof VmdkStreamError) return err;
    throw err;
  }
  throw new Error('decoding succeeded; an error was expected');
}

async function expectError(bytes: Buffer, code: VmdkStreamErrorCode, inputOffset?: number): Promise<VmdkStreamError> {
  const err = await decodeError(bytes);
  expect(err.code, err.message).toBe(code);
  if (inputOffset !== undefined) expect(err.inputOffset, err.message).toBe(inputOffset);
  expect(err.message).toContain(`input byte ${err.inputOffset}:`);
  return err;
}

/** Where each marker of a stream starts (walking it like the decoder does, for choosing cut points). */
function markerOffsets(bytes: Buffer): { at: number; grain: boolean }[] {
  const out: { at: number; grain: boolean }[] = [];
  let at = Number(bytes.readBigUInt64LE(64)) * 512;
  while (at + 16 <= bytes.length) {
    const size = bytes.readUInt32LE(at + 8);
    const grain = size > 0;
    out.push({ at, grain });
    if (grain) at += Math.ceil((12 + size) / 512) * 512;
    else if (bytes.readUInt32LE(at + 12) === 0) break;
    else at += 512 + Number(bytes.readBigUInt64LE(at)) * 512;
  }
  return out;
}

// A 6 MiB disk with data at start, middle and end, made by qemu-img.
const rawPath = join(tmp.dir, 'disk.raw');
const qemuPath = join(tmp.dir, 'disk.vmdk');
const size = 6 * MiB;
writeRaw(rawPath, size, [
  { offset: 0, data: randomBytes(200 * KiB, 1) },
  { offset: 3 * MiB, data: Buffer.from('middle '.repeat(5000)) },
  { offset: size - 4, data: Buffer.from('end!') },
]);
toStreamOptimized(rawPath, qemuPath);
const qemuBytes = readFileSync(qemuPath);
const qemuMarkers = markerOffsets(qemuBytes);
const qemuGrains = qemuMarkers.filter((m) => m.grain);
const qemuEos = qemuMarkers.find((m) => !m.grain);
const firstGrain = qemuGrains[0]!.at;

// The same disk in the ESXi layout (tables as markers, footer, end-of-stream).
const esxiBytes = encodeEsxiLayout(readFileSync(rawPath));
const esxiMarkers = markerOffsets(esxiBytes);

/** Header, descriptor and overhead of an empty `capacity`-byte disk, then the given markers. */
function handMade(capacity: number, markers: Buffer[], endOfStream = true): Buffer {
  const head = encodeEsxiLayout(Buffer.alloc(capacity), { omitTail: true });
  return Buffer.concat([head, ...markers, ...(endOfStream ? [metadataMarker(0, 0)] : [])]);
}
function grainMarker(lba: number, compressed: Buffer, claimedSize = compressed.length): Buffer {
  const m = Buffer.alloc(Math.ceil((12 + compressed.length) / 512) * 512);
  m.writeBigUInt64LE(BigInt(lba), 0);
  m.writeUInt32LE(claimedSize, 8);
  compressed.copy(m, 12);
  return m;
}
function metadataMarker(sectors: number, type: number): Buffer {
  const m = Buffer.alloc(512);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(type, 12);
  return m;
}
const grain64k = deflateSync(Buffer.alloc(64 * KiB, 7));

describe('the fixtures are what the error cases assume', () => {
  it('qemu and ESXi-layout streams decode whole, with several grains', async () => {
    expect(qemuGrains.length).toBeGreaterThanOrEqual(4);
    expect(qemuEos).toBeDefined();
    const q = await rebuildRaw(chunked(qemuBytes, 1, 5000));
    const e = await rebuildRaw(chunked(esxiBytes, 1, 5000));
    expect(sha256(q.raw)).toBe(sha256(readFileSync(rawPath)));
    expect(sha256(e.raw)).toBe(sha256(readFileSync(rawPath)));
    expect((await rebuildRaw(chunked(handMade(MiB, [grainMarker(0, grain64k)]), 1, 5000))).dataEvents).toBe(1);
  });
});

describe('truncated input is a typed error naming where the input ended', () => {
  const lastGrain = qemuGrains[qemuGrains.length - 1]!.at;
  const qemuCuts: [string, number][] = [
    ['inside the header', 100],
    ['inside the descriptor', 700],
    ['inside the embedded grain tables', 14_000],
    ['at the first marker (no grain at all)', firstGrain],
    ['inside the first grain marker', firstGrain + 6],
    ['inside the first grain data', firstGrain + 5000],
    ['at a marker boundary after the first grain', qemuGrains[1]!.at],
    ['inside the last grain', lastGrain + 20],
  ];
  for (const [where, cut] of qemuCuts) {
    it(`qemu-img stream cut ${where} (byte ${cut})`, async () => {
      const err = await expectError(qemuBytes.subarray(0, cut), 'truncated', cut);
      expect(err.retryable).toBe(true);
    });
  }

  it('an empty input', async () => {
    await expectError(Buffer.alloc(0), 'truncated', 0);
  });

  it('a qemu-img stream cut exactly after its last grain is complete: the embedded tables list no more grains', async () => {
    const out = await rebuildRaw(chunked(qemuBytes.subarray(0, qemuEos!.at), 3, 4000));
    expect(out.end.endOfStreamMarker).toBe(false);
    expect(sha256(out.raw)).toBe(sha256(readFileSync(rawPath)));
  });

  const footerMarker = esxiMarkers.find((m) => !m.grain && esxiBytes.readUInt32LE(m.at + 12) === 3)!.at;
  const esxiCuts: [string, number][] = [
    ['after the last grain, before its grain table', esxiMarkers.filter((m) => m.grain).at(-1)!.at + 512],
    ['at the footer marker', footerMarker],
    ['inside the footer', footerMarker + 700],
    ['just before end-of-stream', esxiBytes.length - 512],
    ['inside the end-of-stream marker', esxiBytes.length - 100],
  ];
  for (const [where, cut] of esxiCuts) {
    it(`ESXi-layout stream cut ${where} (byte ${cut})`, async () => {
      await expectError(esxiBytes.subarray(0, cut), 'truncated', cut);
    });
  }
});

describe('streams that are not streamOptimized disks are refused with a clear error', () => {
  it("a 201-byte text descriptor with no disk data (a simulator's 'disk')", async () => {
    const descriptor = Buffer.from(
      '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="streamOptimized"\n\n' +
        '# Extent description\nRW 8388608 SPARSE "disk.vmdk"\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = "lsilogic"',
    );
    expect(descriptor.length).toBe(201);
    const err = await expectError(descriptor, 'descriptor-only', 0);
    expect(err.message).toMatch(/text VMDK descriptor with no disk data/);
    expect(err.retryable).toBe(false);
  });

  it("qemu-img's own descriptor file for a flat disk", async () => {
    const path = join(tmp.dir, 'flat.vmdk');
    execFileSync(qemuImgBinary(), ['create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', path, '1M']);
    await expectError(readFileSync(path), 'descriptor-only', 0);
  });

  it('wrong magic: a qcow2 image', async () => {
    const path = join(tmp.dir, 'x.qcow2');
    execFileSync(qemuImgBinary(), ['create', '-q', '-f', 'qcow2', path, '1M']);
    const err = await expectError(readFileSync(path), 'bad-magic', 0);
    expect(err.message).toContain('0x514649fb');
  });

  it('wrong magic: random bytes', async () => {
    await expectError(randomBytes(4096, 9), 'bad-magic', 0);
  });

  it('a monolithicSparse VMDK (no compressed grains, no markers)', async () => {
    const path = join(tmp.dir, 'sparse.vmdk');
    execFileSync(qemuImgBinary(), ['convert', '-f', 'raw', '-O', 'vmdk', rawPath, path]);
    const err = await expectError(readFileSync(path), 'not-stream-optimized', 0);
    expect(err.message).toMatch(/flags 0x/);
  });

  it('an embedded descriptor naming another createType', async () => {
    const bytes = Buffer.from(qemuBytes);
    const at = bytes.indexOf('createType="streamOptimized"');
    bytes.write('createType="vmfsSparse"     ', at, 'latin1');
    const err = await expectError(bytes, 'not-stream-optimized', 512);
    expect(err.message).toContain('vmfsSparse');
  });

  it('a header that was sent through a text-mode transfer (newline bytes altered)', async () => {
    const bytes = Buffer.from(qemuBytes);
    bytes.write('\n \n\n', 73, 'latin1');
    await expectError(bytes, 'bad-header', 0);
  });
});

describe('grain and marker contents are validated', () => {
  const mib = MiB;
  it('corrupted deflate data in a grain', async () => {
    const bytes = Buffer.from(qemuBytes);
    for (let i = 40; i < 60; i += 1) bytes[firstGrain + 12 + i] = bytes[firstGrain + 12 + i]! ^ 0x5a;
    const err = await expectError(bytes, 'bad-grain-data', firstGrain + 12);
    expect(err.message).toMatch(/LBA 0/);
  });

  it('a grain that inflates to less than a grain in the middle of the disk', async () => {
    await expectError(handMade(mib, [grainMarker(0, deflateSync(Buffer.alloc(1000, 1)))]), 'bad-grain-data');
  });

  it('a grain that inflates to more than a grain', async () => {
    const err = await expectError(handMade(mib, [grainMarker(0, deflateSync(Buffer.alloc(70_000, 1)))]), 'bad-grain-data');
    expect(err.message).toMatch(/more than 65536/);
  });

  it('a grain LBA going backwards', async () => {
    const bytes = handMade(mib, [grainMarker(256, grain64k), grainMarker(128, grain64k)]);
    const err = await expectError(bytes, 'bad-grain-lba', 65536 + grainMarker(256, grain64k).length);
    expect(err.message).toMatch(/goes back/);
  });

  it('the same grain twice', async () => {
    await expectError(handMade(mib, [grainMarker(128, grain64k), grainMarker(128, grain64k)]), 'bad-grain-lba');
  });

  it('a grain LBA not on a grain boundary', async () => {
    await expectError(handMade(mib, [grainMarker(1, grain64k)]), 'bad-grain-lba', 65536);
  });

  it('a grain LBA beyond capacity', async () => {
    const err = await expectError(handMade(mib, [grainMarker(mib / 512, grain64k)]), 'bad-grain-lba', 65536);
    expect(err.message).toMatch(/beyond the capacity/);
  });

  it('an oversize compressed grain is refused before its bytes are read', async () => {
    const bytes = handMade(mib, [grainMarker(0, grain64k, 0x7fff_ffff)], false);
    const err = await expectError(bytes, 'grain-too-large', 65536);
    expect(err.message).toContain(String(maxCompressedGrainBytes(64 * KiB)));
  });

  it('a metadata marker of unknown type', async () => {
    await expectError(handMade(mib, [metadataMarker(0, 7)]), 'bad-marker', 65536);
  });

  it('a grain table marker larger than any grain table', async () => {
    await expectError(handMade(mib, [metadataMarker(1_000_000, 1)]), 'bad-marker', 65536);
  });

  it('a footer whose capacity differs from the header', async () => {
    const bytes = encodeEsxiLayout(readFileSync(rawPath), { footerCapacitySectors: 999 });
    const err = await expectError(bytes, 'bad-footer');
    expect(err.message).toMatch(/capacityBytes/);
  });

  it('non-zero bytes after end-of-stream', async () => {
    const bytes = Buffer.concat([esxiBytes, Buffer.alloc(1000), Buffer.from('junk')]);
    await expectError(bytes, 'trailing-data', esxiBytes.length + 1000);
  });

  it('a grain the embedded tables do not list', async () => {
    // Insert one grain, in LBA order, just before qemu's last grain: the tables list one grain fewer.
    const lastGrain = qemuGrains[qemuGrains.length - 1]!;
    const lastLba = Number(qemuBytes.readBigUInt64LE(lastGrain.at));
    expect(lastLba).toBe(size / 512 - 128);
    const unlisted = grainMarker(lastLba - 128, grain64k);
    const bytes = Buffer.concat([qemuBytes.subarray(0, lastGrain.at), unlisted, qemuBytes.subarray(lastGrain.at)]);
    await expectError(bytes, 'table-mismatch', lastGrain.at + unlisted.length);
  });

  it("the source's own error comes through unchanged, and no event is invented", async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield qemuBytes.subarray(0, firstGrain + 100);
      await Promise.resolve();
      throw new Error('socket hang up');
    }
    await expect(rebuildRaw(failing())).rejects.toThrow('socket hang up');
  });

  it('one-byte chunks give the same error at the same offset', async () => {
    const bytes = Buffer.from(qemuBytes.subarray(0, firstGrain + 2000));
    const err = await decodeError(bytes, 1);
    expect(err.code).toBe('truncated');
    expect(err.inputOffset).toBe(firstGrain + 2000);
  });
});

describe("embedded grain tables (qemu-img's layout)", () => {
  /** The qemu stream with its embedded grain tables zeroed, as a writer that preallocates but never fills them leaves them. */
  function withUnfilledTables(): Buffer {
    const bytes = Buffer.from(qemuBytes);
    const gdAt = Number(bytes.readBigUInt64LE(56)) * 512;
    const gtAt = bytes.readUInt32LE(gdAt) * 512;
    expect(gtAt).toBeGreaterThan(gdAt);
    expect(bytes.subarray(gtAt, gtAt + 2048).some((b) => b !== 0)).toBe(true);
    bytes.fill(0, gtAt, gtAt + 2048);
    return bytes;
  }

  it('unfilled (zeroed) tables do not make a complete stream fail: the end-of-stream marker decides', async () => {
    const out = await rebuildRaw(chunked(withUnfilledTables(), 5, 7000));
    expect(out.end.endOfStreamMarker).toBe(true);
    expect(sha256(out.raw)).toBe(sha256(readFileSync(rawPath)));
  });

  it('with unfilled tables, an input cut after a grain is still truncated', async () => {
    await expectError(withUnfilledTables().subarray(0, qemuGrains[1]!.at), 'truncated', qemuGrains[1]!.at);
  });
});
