// The sparse raw writer judged by independent tools: `qemu-img compare` (the
// image reads back byte for byte as its source), `sha256sum` (the hash the writer
// reports), and the file's allocated blocks (zeros became holes). Sources are small
// in-memory images with data at the start, middle and end and long zero runs.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { qemuImgBinary } from '../../formats/test-support.js';
import { openDirect } from '../direct-io.js';
import { RawWriterError } from './errors.js';
import { RawSparseWriter, type RawHashing, type RawSparseState } from './raw-sparse-writer.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SELF_DIR = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hx-raw-'));
  dirs.push(d);
  return d;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A source image: zeros with random bytes at the given places. */
function image(size: number, pieces: { at: number; length: number }[]): Buffer {
  const b = Buffer.alloc(size);
  for (const p of pieces) randomBytes(p.length).copy(b, p.at);
  return b;
}

/** How a transfer hands the source over: data extents (zeros inside them included) and declared-unallocated ranges. */
type Feed = { kind: 'data' | 'unallocated'; at: number; length: number }[];

async function feed(w: RawSparseWriter, source: Buffer, plan: Feed): Promise<void> {
  for (const step of plan) {
    if (step.kind === 'data') await w.write(step.at, source.subarray(step.at, step.at + step.length));
    else await w.skipZeros(step.at, step.length);
  }
}

/** [from, to) cut into data extents of `chunk` bytes (the last one shorter). */
function chunks(from: number, to: number, chunk: number): Feed {
  const out: Feed = [];
  for (let at = from; at < to; at += chunk) out.push({ kind: 'data', at, length: Math.min(chunk, to - at) });
  return out;
}

/** What the judges say about `out` as a copy of `source`. */
async function judge(
  source: Buffer,
  out: string,
): Promise<{
  compare: { code: number; stdout: string };
  sha256sum: string;
  size: number;
  allocatedBytes: number;
}> {
  const src = join(dirname(out), 'source.img');
  writeFileSync(src, source);
  const compare = await run(qemuImgBinary(), ['compare', '-f', 'raw', '-F', 'raw', src, out]);
  const sum = await run('sha256sum', [out]);
  const stat = await run('stat', ['--format=%b %B %s', out]);
  const [blocks, unit, size] = stat.stdout.trim().split(' ').map(Number);
  return { compare, sha256sum: sum.stdout.split(' ')[0]!, size: size!, allocatedBytes: blocks! * unit! };
}

async function withFile<T>(path: string, body: (fh: FileHandle) => Promise<T>): Promise<T> {
  const fh = await open(path, 'w+');
  try {
    return await body(fh);
  } finally {
    await fh.close();
  }
}

/** A second handle with O_DIRECT; the temporary directory's file system must take it (ext4 here, not tmpfs). */
async function directHandle(path: string): Promise<FileHandle> {
  const direct = await openDirect(path);
  if (!direct)
    throw new Error(`${path}: the file system refuses O_DIRECT; run the tests with TMPDIR on a disk`);
  return direct;
}

/** How the writer is set up: hashing, and buffered or direct writes. */
const MODES: [RawHashing, 'buffered' | 'direct'][] = [
  ['saved-state', 'buffered'],
  ['reread-prefix', 'buffered'],
  ['reread-prefix', 'direct'],
];

describe('RawSparseWriter', () => {
  // 9 MiB + 1234: not a multiple of any block size.
  const size = 9 * MiB + 1234;
  const data = [
    { at: 0, length: 300 * KiB },
    { at: 4 * MiB + 100, length: 200 * KiB }, // unaligned start and end
    { at: 6 * MiB + 7, length: 1 },
    { at: size - 5000, length: 5000 }, // the last bytes, ending off any block boundary
  ];
  const source = image(size, data);
  // Odd-sized extents (block boundaries fall inside them, zeros inside them), an
  // unallocated range, a gap never mentioned (implied zeros), and the tail.
  const plan: Feed = [
    ...chunks(0, 5 * MiB, 256 * KiB + 13),
    { kind: 'unallocated', at: 5 * MiB, length: MiB },
    ...chunks(6 * MiB, 6 * MiB + 3 * 4096, 4096),
    ...chunks(size - 64 * KiB, size, 64 * KiB),
  ];

  it.each(MODES)(
    'writes an image qemu-img finds identical to its source, with sha256sum its SHA-256 and holes for its zeros (%s hashing, %s)',
    async (hashing, io) => {
      const out = join(tempDir(), 'disk.raw');
      const result = await withFile(out, async (fh) => {
        const direct = io === 'direct' ? await directHandle(out) : undefined;
        try {
          const w = await RawSparseWriter.create(fh, { sizeBytes: size, hashing, direct });
          await feed(w, source, plan);
          expect(w.writesDirect).toBe(io === 'direct');
          return await w.finish();
        } finally {
          await direct?.close();
        }
      });
      const j = await judge(source, out);
      expect(j.compare.stdout.trim()).toBe('Images are identical.');
      expect(j.compare.code).toBe(0);
      expect(j.size).toBe(size);
      expect(result.sha256).toBe(j.sha256sum);
      expect(result.sha256).toBe(sha256(source));
      // ~505 KiB of data in 4 KiB blocks (each piece rounded out to whole blocks), against 9 MiB.
      const dataBlocks = data.reduce(
        (n, p) => n + (Math.ceil((p.at + p.length) / 4096) - Math.floor(p.at / 4096)) * 4096,
        0,
      );
      expect(j.allocatedBytes).toBeLessThanOrEqual(dataBlocks + 16 * KiB); // + room for an extent-tree block
      expect(j.allocatedBytes).toBeGreaterThanOrEqual(dataBlocks - 4096);
      expect(result.bytesWritten).toBeLessThanOrEqual(dataBlocks);
    },
  );

  it('the judge can fail: one changed byte in a hole makes qemu-img compare report the offset', async () => {
    const out = join(tempDir(), 'disk.raw');
    await withFile(out, async (fh) => {
      const w = await RawSparseWriter.create(fh, { sizeBytes: size });
      await feed(w, source, plan);
      await w.finish();
      await fh.write(Buffer.from([1]), 0, 1, 2 * MiB);
    });
    const j = await judge(source, out);
    expect(j.compare.code).toBe(1);
    expect(j.compare.stdout).toContain(`Content mismatch at offset ${2 * MiB}!`);
  });

  it('an empty disk (all zeros, and size 0) is all hole, identical, with the SHA-256 of its zeros', async () => {
    for (const sizeBytes of [4 * MiB + 512, 0]) {
      const out = join(tempDir(), 'empty.raw');
      const result = await withFile(out, async (fh) =>
        (await RawSparseWriter.create(fh, { sizeBytes })).finish(),
      );
      const zeros = Buffer.alloc(sizeBytes);
      const j = await judge(zeros, out);
      expect(j.compare.code).toBe(0);
      expect(j.size).toBe(sizeBytes);
      expect(j.allocatedBytes).toBe(0);
      expect(result.sha256).toBe(sha256(zeros));
      expect(result.sha256).toBe(j.sha256sum);
    }
  });

  it.each(['buffered', 'direct'])('a fully allocated disk is written whole (%s)', async (io) => {
    const full = randomBytes(7 * MiB + 100);
    const out = join(tempDir(), 'full.raw');
    const result = await withFile(out, async (fh) => {
      const direct = io === 'direct' ? await directHandle(out) : undefined;
      try {
        const w = await RawSparseWriter.create(fh, { sizeBytes: full.length, direct });
        // Extents of 3 MiB + 7: each has an unaligned head and tail around a
        // middle of several staging buffers (direct).
        await feed(w, full, chunks(0, full.length, 3 * MiB + 7));
        expect(w.writesDirect).toBe(io === 'direct');
        return await w.finish();
      } finally {
        await direct?.close();
      }
    });
    const j = await judge(full, out);
    expect(j.compare.code).toBe(0);
    expect(result.sha256).toBe(j.sha256sum);
    expect(result.bytesWritten).toBe(full.length);
    expect(j.allocatedBytes).toBeGreaterThanOrEqual(full.length);
  });

  it.each<[RawHashing, 'buffered' | 'direct']>([
    ['saved-state', 'buffered'],
    ['reread-prefix', 'direct'],
  ])(
    'after kill -9 mid-way, a resume from an earlier checkpoint over a dirtied file finishes identical with the same SHA-256 (%s, %s)',
    async (hashing, io) => {
      const dir = tempDir();
      const kSize = 8 * MiB + 300;
      const kSource = image(kSize, [
        { at: 0, length: 512 * KiB },
        { at: 1536 * KiB + 5, length: 700 * KiB },
        { at: 4 * MiB, length: 256 * KiB },
        { at: kSize - 100 * KiB, length: 100 * KiB },
      ]);
      const srcPath = join(dir, 'kill-source.img');
      writeFileSync(srcPath, kSource);
      const out = join(dir, 'killed.raw');
      // The child writes 128 KiB extents, checkpointing after each and printing the
      // state, slowly enough to be killed in the middle.
      const child = join(dir, 'child.mts');
      writeFileSync(
        child,
        `import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { RawSparseWriter } from ${JSON.stringify(join(SELF_DIR, 'raw-sparse-writer.ts'))};
import { openDirect } from ${JSON.stringify(join(SELF_DIR, '../../storage/direct-io.ts'))};
const [src, out, hashing, io] = process.argv.slice(2);
const source = readFileSync(src!);
const fh = await open(out!, 'w+');
const direct = io === 'direct' ? await openDirect(out!) : undefined;
const w = await RawSparseWriter.create(fh, { sizeBytes: source.length, hashing: hashing as 'saved-state', direct });
if (w.writesDirect !== (io === 'direct')) throw new Error('direct I/O expected: ' + io);
for (let at = 0; at < source.length; at += 128 * 1024) {
  await w.write(at, source.subarray(at, Math.min(source.length, at + 128 * 1024)));
  process.stdout.write(JSON.stringify(await w.checkpoint()) + '\\n');
  await new Promise((r) => setTimeout(r, 15));
}
await w.finish();
process.stdout.write('finished\\n');
`,
      );
      const states: RawSparseState[] = [];
      const exit = await new Promise<NodeJS.Signals | null>((resolve) => {
        const proc = spawn(process.execPath, ['--import', 'tsx', child, srcPath, out, hashing, io], {
          cwd: join(SELF_DIR, '../../..'),
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let buffered = '';
        proc.stdout.on('data', (b: Buffer) => {
          buffered += b.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) if (line.startsWith('{')) states.push(JSON.parse(line) as RawSparseState);
          if (states.length >= 24 && proc.exitCode === null) proc.kill('SIGKILL');
        });
        proc.on('exit', (_code, signal) => resolve(signal));
      });
      expect(exit).toBe('SIGKILL');
      const lastOffset = states.at(-1)!.offset;
      expect(lastOffset).toBeLessThan(kSize); // killed mid-way
      const earlier = states[9]!; // 1.25 MiB: the killed attempt wrote data well past it
      expect(earlier.offset).toBe(10 * 128 * KiB);
      expect(JSON.stringify(earlier).length).toBeLessThan(1024); // small state, whatever the disk size
      // Dirty the file past the checkpoint where the source has zeros: a resume must not keep it.
      const fh = await open(out, 'r+');
      try {
        await fh.write(Buffer.alloc(4096, 0xee), 0, 4096, 3 * MiB);
        await fh.write(Buffer.alloc(10, 0xee), 0, 10, earlier.offset + 100);
        const direct = io === 'direct' ? await directHandle(out) : undefined;
        const w = await RawSparseWriter.resume(fh, earlier, { direct, sizeBytes: kSize });
        expect(w.offset).toBe(earlier.offset);
        await feed(w, kSource, chunks(earlier.offset, kSize, 512 * KiB - 3));
        expect(w.writesDirect).toBe(io === 'direct');
        const result = await w.finish();
        await direct?.close();
        expect(result.resumedFromOffset).toBe(earlier.offset);
        const j = await judge(kSource, out);
        expect(j.compare.stdout.trim()).toBe('Images are identical.');
        expect(result.sha256).toBe(j.sha256sum);
        expect(result.sha256).toBe(sha256(kSource));
        expect(j.allocatedBytes).toBeLessThan(2 * MiB); // 1.5 MiB of data in 8 MiB
      } finally {
        await fh.close();
      }
    },
    60_000,
  );

  it('a checkpoint asked for during a long zero range is taken mid-range, and resuming from it gives the same SHA-256', async () => {
    const sizeBytes = 64 * MiB;
    const disk = image(sizeBytes, [
      { at: 0, length: 4096 },
      { at: sizeBytes - 4096, length: 4096 },
    ]);
    const out = join(tempDir(), 'long-hole.raw');
    const fh = await open(out, 'w+');
    try {
      const w = await RawSparseWriter.create(fh, { sizeBytes });
      await w.write(0, disk.subarray(0, 4096));
      const skipping = w.skipZeros(4096, sizeBytes - 8192);
      const mid = await w.checkpoint();
      await skipping;
      expect(mid.offset).toBeGreaterThan(4096);
      expect(mid.offset).toBeLessThan(sizeBytes - 4096);
      const resumed = await RawSparseWriter.resume(fh, JSON.parse(JSON.stringify(mid)) as RawSparseState);
      await resumed.write(sizeBytes - 4096, disk.subarray(sizeBytes - 4096));
      expect((await resumed.finish()).sha256).toBe(sha256(disk));
    } finally {
      await fh.close();
    }
    expect((await judge(disk, out)).compare.code).toBe(0);
  });

  describe('refuses what it cannot write correctly, naming the offset or field', () => {
    async function writer(sizeBytes = MiB): Promise<{ w: RawSparseWriter; fh: FileHandle }> {
      const fh = await open(join(tempDir(), 'e.raw'), 'w+');
      return { w: await RawSparseWriter.create(fh, { sizeBytes, hashing: 'saved-state' }), fh };
    }
    async function codeOf(p: Promise<unknown>): Promise<string> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RawWriterError);
      return `${(err as RawWriterError).code}: ${(err as RawWriterError).message}`;
    }

    it('extents out of order or past the disk size', async () => {
      const { w, fh } = await writer();
      await w.write(8192, Buffer.alloc(4096, 1));
      expect(await codeOf(w.write(4096, Buffer.alloc(10, 1)))).toBe(
        'OutOfOrder: write: guest offset 4096 is before the end of what was already given (12288)',
      );
      expect(await codeOf(w.skipZeros(12287, 1))).toMatch(/^OutOfOrder: skipZeros: guest offset 12287 /);
      expect(await codeOf(w.write(MiB - 1, Buffer.alloc(2)))).toBe(
        `OutOfBounds: write: bytes [${MiB - 1}, ${MiB + 1}) reach past the disk size ${MiB}`,
      );
      expect(await codeOf(w.write(-1, Buffer.alloc(1)))).toBe(
        'OutOfBounds: write offset must be a non-negative integer, got -1',
      );
      // Refusals do not disturb the writer.
      await w.write(12288, Buffer.alloc(4096, 2));
      await w.finish();
      expect(await codeOf(w.write(20000, Buffer.alloc(1)))).toMatch(/^Unusable: the image is finished/);
      await fh.close();
    });

    it('a failed write keeps its own error and leaves the writer unusable (resume from the last checkpoint)', async () => {
      const { w, fh } = await writer();
      await w.write(0, Buffer.alloc(4096, 1));
      await w.checkpoint();
      await fh.close(); // the next write fails for real (EBADF)
      const failed = await w.write(4096, Buffer.alloc(4096, 1)).then(
        () => undefined,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(failed?.code).toBe('EBADF');
      expect(await codeOf(w.checkpoint())).toBe(
        'Unusable: a write at guest offset 4096 failed; resume from the last checkpoint',
      );
      // Every later call is refused, zero ranges included.
      expect(await codeOf(w.skipZeros(8192, 10))).toMatch(/^Unusable: /);
    });

    it('resume states that are not this file’s', async () => {
      const { w, fh } = await writer();
      await w.write(0, Buffer.alloc(8192, 3));
      const good = await w.checkpoint();
      expect(await codeOf(RawSparseWriter.resume(fh, { ...good, offset: MiB + 1 }))).toMatch(
        /^InvalidState: resume state: offset 1048577 is not an integer from 0 to sizeBytes/,
      );
      expect(await codeOf(RawSparseWriter.resume(fh, { ...good, format: 'qcow2' as 'raw-sparse' }))).toMatch(
        /^InvalidState: resume state: format is "qcow2"/,
      );
      expect(
        await codeOf(
          RawSparseWriter.resume(fh, { ...good, sha256State: Buffer.from('not a state').toString('base64') }),
        ),
      ).toMatch(/^InvalidState: resume state: sha256State/);
      expect(await codeOf(RawSparseWriter.resume(fh, good, { sizeBytes: 2 * MiB }))).toBe(
        `InvalidState: resume state: sizeBytes ${MiB} is not the disk's size ${2 * MiB}`,
      );
      const { sha256State: _dropped, ...noHash } = good;
      expect(await codeOf(RawSparseWriter.resume(fh, noHash))).toMatch(
        /^InvalidState: resume state: sha256State is missing/,
      );
      await fh.truncate(4096);
      expect(await codeOf(RawSparseWriter.resume(fh, good))).toBe(
        'PartialTooShort: resume state: the file holds 4096 bytes but the state says 8192 are durable; it is not the file of this state',
      );
      await fh.close();
    });
  });
});
