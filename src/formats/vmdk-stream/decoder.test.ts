import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeStreamOptimized } from './decoder.js';
import {
  chunked,
  encodeEsxiLayout,
  KiB,
  makeTempDir,
  MiB,
  randomBytes,
  rawAsGuestSees,
  rebuildRaw,
  sha256,
  toStreamOptimized,
  writeFile,
  writeRaw,
  type Piece,
} from './test-support.js';
import { qemuImgBinary } from '../test-support.js';

const tmp = makeTempDir();
afterAll(tmp.cleanup);

let seq = 0;
/** A raw image with `pieces`, its qemu-made streamOptimized VMDK, both on disk. */
function qemuCase(size: number, pieces: Piece[]): { raw: string; vmdk: string } {
  seq += 1;
  const raw = join(tmp.dir, `case${seq}.raw`);
  const vmdk = join(tmp.dir, `case${seq}.vmdk`);
  writeRaw(raw, size, pieces);
  toStreamOptimized(raw, vmdk);
  return { raw, vmdk };
}

/** qemu-img's verdict on our rebuilt raw against the VMDK: the independent judge. */
function qemuCompare(rebuilt: Buffer, vmdk: string): void {
  seq += 1;
  const path = writeFile(join(tmp.dir, `rebuilt${seq}.raw`), rebuilt);
  // Throws (non-zero exit) when the images differ.
  execFileSync(qemuImgBinary(), ['compare', '-f', 'raw', '-F', 'vmdk', path, vmdk], { stdio: 'pipe' });
}

const text = (s: string, times: number): Buffer => Buffer.from(s.repeat(times));

// Data at the start, in the middle (compressible text, and random bytes
// straddling a grain boundary), at the very end; long zero runs between.
const mixedPieces = (size: number): Piece[] => [
  { offset: 0, data: randomBytes(300 * KiB, 1) },
  { offset: 3 * MiB, data: text('hypersdk streamOptimized middle ', 4000) },
  { offset: 4 * MiB - 30_000, data: randomBytes(64 * KiB, 2) },
  { offset: size - 100, data: text('end!', 25) },
];

describe('decodeStreamOptimized on qemu-img streamOptimized output', () => {
  const cases: { name: string; size: number; pieces: (size: number) => Piece[] }[] = [
    { name: 'data at start, middle and end with long zero runs (6 MiB)', size: 6 * MiB, pieces: mixedPieces },
    { name: 'size not a multiple of the grain (5 MiB + 12.5 KiB)', size: 5 * MiB + 12.5 * KiB, pieces: mixedPieces },
    // qemu keeps one grain table per 32 MiB in the overhead; the decoder reads them all to know the grain count.
    { name: 'several embedded grain tables (100 MiB, data in the first, third and last)', size: 100 * MiB, pieces: (s) => [...mixedPieces(s), { offset: 70 * MiB + 512, data: randomBytes(200 * KiB, 6) }] },
    { name: 'size not a multiple of a sector (1_000_003 bytes)', size: 1_000_003, pieces: (s) => [{ offset: s - 3, data: Buffer.from('xyz') }, { offset: 0, data: randomBytes(70 * KiB, 3) }] },
  ];
  for (const c of cases) {
    it(`${c.name}: SHA-256 of the rebuilt raw equals the original's, qemu-img compare agrees`, async () => {
      const { raw, vmdk } = qemuCase(c.size, c.pieces(c.size));
      const original = rawAsGuestSees(raw);
      const bytes = readFileSync(vmdk);
      for (const [seed, maxChunk] of [[11, 70_000], [12, 4096], [13, 513]] as const) {
        const out = await rebuildRaw(chunked(bytes, seed, maxChunk));
        expect(out.header.capacityBytes).toBe(original.length);
        expect(out.header.createType).toBe('streamOptimized');
        expect(out.header.descriptor).toMatch(/createType="streamOptimized"/);
        expect(out.end.inputBytes).toBe(bytes.length);
        expect(out.dataEvents).toBeGreaterThan(0);
        expect(sha256(out.raw)).toBe(sha256(original));
        if (seed === 11) qemuCompare(out.raw, vmdk);
      }
    });
  }

  it('an empty (all-zero) disk yields its capacity and no data extents', async () => {
    const { raw, vmdk } = qemuCase(4 * MiB, []);
    const out = await rebuildRaw(chunked(readFileSync(vmdk), 21, 8192));
    expect(out.header.capacityBytes).toBe(4 * MiB);
    expect(out.dataEvents).toBe(0);
    expect(out.end.dataBytes).toBe(0);
    // qemu-img ends an empty disk right after the overhead, with no end-of-stream marker.
    expect(out.end.endOfStreamMarker).toBe(false);
    expect(sha256(out.raw)).toBe(sha256(rawAsGuestSees(raw)));
  });

  it('a zero-size disk: capacity 0, no extents', async () => {
    // qemu-img 7.2 cannot reopen a zero-size streamOptimized file it wrote, so this one is our ESXi-layout encoding.
    const out = await rebuildRaw(chunked(encodeEsxiLayout(Buffer.alloc(0)), 22, 8192));
    expect(out.header.capacityBytes).toBe(0);
    expect(out.dataEvents).toBe(0);
    expect(out.end.endOfStreamMarker).toBe(true);
  });

  it('a small image fed one byte at a time decodes to the same bytes', async () => {
    const size = 192 * KiB + 1536;
    const { raw, vmdk } = qemuCase(size, [
      { offset: 0, data: randomBytes(5000, 4) },
      { offset: 100 * KiB, data: text('middle', 100) },
      { offset: size - 10, data: Buffer.from('0123456789') },
    ]);
    const out = await rebuildRaw(chunked(readFileSync(vmdk), 31, 1));
    expect(sha256(out.raw)).toBe(sha256(rawAsGuestSees(raw)));
    qemuCompare(out.raw, vmdk);
  });

  it('reads a file stream (fs.createReadStream) and reports progress as it goes', async () => {
    const { raw, vmdk } = qemuCase(6 * MiB, mixedPieces(6 * MiB));
    const decoder = decodeStreamOptimized(createReadStream(vmdk, { highWaterMark: 16 * KiB }));
    const rebuilt = Buffer.alloc(6 * MiB);
    const seen: { input: number; guest: number }[] = [];
    for await (const ev of decoder) {
      if (ev.kind === 'data') {
        ev.data.copy(rebuilt, ev.offset);
        expect(decoder.inputBytes).toBe(ev.inputOffset);
        expect(decoder.guestOffset).toBe(ev.offset + ev.data.length);
        seen.push({ input: decoder.inputBytes, guest: decoder.guestOffset });
      }
    }
    expect(decoder.capacityBytes).toBe(6 * MiB);
    expect(decoder.guestOffset).toBe(6 * MiB);
    expect(decoder.inputBytes).toBe(readFileSync(vmdk).length);
    // Both progress figures only go forward.
    for (let i = 1; i < seen.length; i += 1) {
      expect(seen[i]!.input).toBeGreaterThan(seen[i - 1]!.input);
      expect(seen[i]!.guest).toBeGreaterThan(seen[i - 1]!.guest);
    }
    expect(sha256(rebuilt)).toBe(sha256(rawAsGuestSees(raw)));
  });
});

describe('decodeStreamOptimized on the ESXi layout (tables, directory and footer as markers)', () => {
  // 40 MiB + 2.5 KiB: more than one grain table (512 grains of 64 KiB = 32 MiB each), last grain partial.
  const size = 40 * MiB + 2560;
  const raw = Buffer.alloc(size);
  randomBytes(100 * KiB, 5).copy(raw, 0);
  text('second table ', 3000).copy(raw, 33 * MiB + 7);
  raw.write('last bytes', size - 10);

  for (const fullLastGrain of [false, true]) {
    it(`qemu-img reads our encoding identically, and so does the decoder (last grain ${fullLastGrain ? 'full' : 'short'})`, async () => {
      const vmdk = writeFile(join(tmp.dir, `esxi-${fullLastGrain}.vmdk`), encodeEsxiLayout(raw, { fullLastGrain }));
      // The encoder is itself checked by the independent tool.
      qemuCompare(raw, vmdk);
      const out = await rebuildRaw(chunked(readFileSync(vmdk), 41, 32 * KiB));
      expect(out.end.footer).toBe(true);
      expect(out.end.grainTables).toBe(2);
      expect(out.raw.length).toBe(size);
      expect(sha256(out.raw)).toBe(sha256(raw));
    });
  }
});

describe('backpressure and early exit', () => {
  it('pulls no more input than the grain it is decoding, and closes the source when the consumer stops', async () => {
    const size = 6 * MiB;
    const { vmdk } = qemuCase(size, mixedPieces(size));
    const bytes = readFileSync(vmdk);
    let pulled = 0;
    let closed = false;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        for (let at = 0; at < bytes.length; at += 4096) {
          const chunk = bytes.subarray(at, at + 4096);
          pulled += chunk.length;
          yield chunk;
          await Promise.resolve();
        }
      } finally {
        closed = true;
      }
    }
    const decoder = decodeStreamOptimized(source());
    let dataEvents = 0;
    for await (const ev of decoder) {
      if (ev.kind !== 'data') continue;
      dataEvents += 1;
      // Everything pulled is either consumed or the rest of one chunk.
      expect(pulled).toBeLessThan(ev.inputOffset + 4096);
      if (dataEvents === 3) break;
    }
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(bytes.length);
  });
});

describe('over HTTP, as a lease serves the disk', () => {
  /** Serves `path` (chunked, no Content-Length, like an NFC disk URL); counts the bytes it managed to send. */
  async function serve(path: string): Promise<{ server: Server; url: string; sent: () => number; closed: Promise<void> }> {
    let sent = 0;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const file = createReadStream(path, { highWaterMark: 64 * KiB });
      file.on('data', (chunk) => (sent += chunk.length));
      file.pipe(res);
      res.on('close', () => {
        file.destroy();
        markClosed();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { server, url: `http://127.0.0.1:${port}/disk.vmdk`, sent: () => sent, closed };
  }
  const fetchBody = (url: string): Promise<IncomingMessage> => new Promise((resolve, reject) => get(url, resolve).on('error', reject));

  it('decodes the response body to the original bytes', async () => {
    const { raw, vmdk } = qemuCase(6 * MiB, mixedPieces(6 * MiB));
    const http = await serve(vmdk);
    try {
      const out = await rebuildRaw(await fetchBody(http.url));
      expect(sha256(out.raw)).toBe(sha256(rawAsGuestSees(raw)));
    } finally {
      http.server.close();
    }
  });

  it('a consumer that stops early closes the connection; the server stops sending', async () => {
    const size = 48 * MiB;
    const { vmdk } = qemuCase(size, [{ offset: 0, data: randomFillSync(Buffer.alloc(size)) }]);
    const total = readFileSync(vmdk).length;
    const http = await serve(vmdk);
    try {
      const decoder = decodeStreamOptimized(await fetchBody(http.url));
      for await (const ev of decoder) if (ev.kind === 'data') break;
      await http.closed;
      // What left the server is what the socket buffers held, not the whole disk.
      expect(http.sent()).toBeLessThan(total / 2);
    } finally {
      http.server.close();
    }
  });
});
