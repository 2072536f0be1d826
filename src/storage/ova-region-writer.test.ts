import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { generateManifest } from '../export/ovf.js';
import { manifestByteSize, planOvaLayout, type OvaLayout } from '../formats/ova-layout.js';
import { currentBootId } from './batched-file-writer.js';
import { createOvaPartial, openOvaRegionWriter, writeOvaHeaders, type OvaRegion } from './ova-region-writer.js';
import type { DiskWriter, WriterCommit } from './sink.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SELF_DIR = fileURLToPath(new URL('.', import.meta.url));

const dirs: string[] = [];
/** A temporary directory, removed after the file's tests. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ova-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A disk's content without holding it: zeros, overlaid with the given pieces. */
interface Content {
  size: number;
  pieces: { at: number; bytes: Buffer }[];
}

function slice(c: Content, at: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  fillSlice(c, at, n, out);
  return out;
}

const whole = (c: Content) => slice(c, 0, c.size);

/** slice() into `out` without allocating: zeros, then the pieces. */
function fillSlice(c: Content, at: number, n: number, out: Buffer): void {
  out.fill(0, 0, n);
  for (const p of c.pieces) {
    const from = Math.max(at, p.at);
    const to = Math.min(at + n, p.at + p.bytes.length);
    if (from < to) p.bytes.copy(out, from - at, from - p.at, to - p.at);
  }
}

/**
 * Streams [from, size) of `c` into `writer` in 1 MiB chunks through its own
 * buffers (aligned for O_DIRECT), reusing one only after it was released, as the
 * transfer engine does; returns the SHA-256 of what it streamed.
 */
async function stream(writer: DiskWriter, c: Content, from = 0, upTo = c.size): Promise<string> {
  const hash = createHash('sha256');
  const free = await writer.allocateBuffers!(2, MiB);
  for (let at = from; at < upTo; at += MiB) {
    const n = Math.min(MiB, upTo - at);
    for (let spins = 0; free.length === 0; spins++) {
      if (spins > 10_000) throw new Error('the writer never released a buffer');
      await new Promise((r) => setTimeout(r, 1));
    }
    const buf = free.pop()!;
    fillSlice(c, at, n, buf);
    const view = n === buf.length ? buf : buf.subarray(0, n);
    hash.update(view);
    await writer.write(view, () => free.push(buf));
  }
  return hash.digest('hex');
}

/** Reads [at, at + n) of a file. */
function readRange(path: string, at: number, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(n);
    let done = 0;
    for (let tries = 0; done < n && tries < 1000; tries++) done += readSync(fd, out, done, n - done, at + done);
    return out.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

const cp = (c: WriterCommit) => ({ offset: c.offset, sink: c.state });

/** Python's hashlib (OpenSSL: ~1.4 GB/s here, against ~0.4 for coreutils sha256sum) over a member that GNU tar extracts. */
async function tarMemberSha256(ova: string, member: string): Promise<string> {
  const script = `set -o pipefail; tar -xOf "$1" "$2" | python3 -c 'import hashlib,sys
h = hashlib.sha256()
for b in iter(lambda: sys.stdin.buffer.read(1 << 20), b""): h.update(b)
print(h.hexdigest())'`;
  const { stdout } = await run('bash', ['-c', script, 'judge', ova, member], { maxBuffer: 1 << 20 });
  return stdout.trim();
}

describe('an OVA written in place by region writers', () => {
  it(
    'is a tar that GNU tar and Python read, each disk byte-exact, a sparse 8 GiB+ disk taking the space of its data',
    async () => {
      const dir = tempDir();
      const big = 8 * GiB + 3 * MiB + 12_345; // over 8 GiB (pax size), not a multiple of anything
      const disks: { name: string; content: Content }[] = [
        {
          name: 'vm-disk1.vmdk',
          content: {
            size: big,
            pieces: [
              { at: 0, bytes: randomBytes(MiB) },
              { at: big - MiB, bytes: randomBytes(MiB) },
            ],
          },
        },
        { name: 'vm-disk2.vmdk', content: { size: 3 * MiB + 100, pieces: [{ at: 0, bytes: randomBytes(3 * MiB + 100) }] } },
        // A name longer than ustar's 100 bytes (pax path), written by another process.
        { name: `${'long-'.repeat(25)}disk3.vmdk`, content: { size: 70_001, pieces: [{ at: 0, bytes: randomBytes(70_001) }] } },
      ];
      const descriptor = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Envelope>${disks.map((d) => `<File href="${d.name}"/>`).join('')}</Envelope>\n`);
      const layout = planOvaLayout({
        descriptor: { name: 'vm.ovf', sizeBytes: descriptor.length },
        manifest: { name: 'vm.mf', sizeBytes: manifestByteSize(['vm.ovf', ...disks.map((d) => d.name)]) },
        disks: disks.map((d) => ({ name: d.name, sizeBytes: d.content.size })),
        mtime: 1_700_000_000,
      });
      const partial = join(dir, '.vm.ova.partial');
      await createOvaPartial(partial, layout.totalSize);

      // The third disk in a child process, the first two here, all at the same time.
      const third = disks[2]!;
      const thirdFile = join(dir, 'disk3.bin');
      writeFileSync(thirdFile, whole(third.content));
      const childScript = join(dir, 'child.mts'); // .mts: an ES module outside any package.json
      writeFileSync(
        childScript,
        `import { readFileSync } from 'node:fs';
import { openOvaRegionWriter } from ${JSON.stringify(join(SELF_DIR, 'ova-region-writer.ts'))};
const [path, region, file] = process.argv.slice(2);
const w = await openOvaRegionWriter(path!, JSON.parse(region!));
await w.write(readFileSync(file!));
await w.flush();
await w.finish();
`,
      );
      const child = run(process.execPath, ['--import', 'tsx', childScript, partial, JSON.stringify(regionOf(layout, 2)), thirdFile], {
        cwd: join(SELF_DIR, '../..'),
      }).then(
        () => undefined,
        (err: unknown) => err, // awaited below, after the other writers
      );
      const hashes = await Promise.all(
        disks.slice(0, 2).map(async (d, i) => {
          const w = await openOvaRegionWriter(partial, regionOf(layout, i));
          const h = await stream(w, d.content);
          await w.flush();
          const f = await w.finish();
          expect(f.sizeBytes).toBe(d.content.size);
          return h;
        }),
      );
      expect(await child).toBeUndefined();
      hashes.push(sha256(whole(third.content)));

      const manifest = generateManifest([
        { name: 'vm.ovf', sha256: sha256(descriptor) },
        ...disks.map((d, i) => ({ name: d.name, sha256: hashes[i]! })),
      ]);
      await writeOvaHeaders(partial, layout, { descriptor, manifest });
      const ova = join(dir, 'vm.ova');
      renameSync(partial, ova);

      // GNU tar lists every member, in order, with its size.
      const { stdout: listing } = await run('tar', ['--warning=all', '-tvf', ova]);
      const rows = listing
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/))
        .map((f) => [f[5], Number(f[2])]);
      expect(rows).toEqual([['vm.ovf', descriptor.length], ['vm.mf', Buffer.byteLength(manifest)], ...disks.map((d) => [d.name, d.content.size])]);

      // Python extracts the small members byte-exact.
      const out = join(dir, 'extracted');
      const py = `import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for n in sys.argv[3:]: t.extract(n, sys.argv[2], filter='data')`;
      await run('python3', ['-c', py, ova, out, 'vm.ovf', 'vm.mf', disks[1]!.name, third.name]);
      expect(readFileSync(join(out, 'vm.ovf')).equals(descriptor)).toBe(true);
      expect(readFileSync(join(out, 'vm.mf'), 'utf8')).toBe(manifest);
      expect(readFileSync(join(out, disks[1]!.name)).equals(whole(disks[1]!.content))).toBe(true);
      expect(readFileSync(join(out, third.name)).equals(whole(third.content))).toBe(true);

      // GNU tar extracts the big disk; an independent hash of it is the manifest's.
      expect(await tarMemberSha256(ova, disks[0]!.name)).toBe(hashes[0]);
      // Sparse: ~5 MiB of data in an 8 GiB archive (allow metadata and a few marker blocks).
      expect(statSync(ova).size).toBe(layout.totalSize);
      expect(statSync(ova).blocks * 512).toBeLessThan(16 * MiB);
    },
    180_000,
  );
});

function regionOf(layout: OvaLayout, disk: number): OvaRegion {
  const d = layout.disks[disk]!;
  return { name: d.name, dataOffset: d.dataOffset, sizeBytes: d.sizeBytes };
}

/** A one-disk layout whose partial is filled with 0xEE everywhere outside the disk region (and its marker slot), to catch stray writes. */
async function oneDisk(size: number): Promise<{ partial: string; region: OvaRegion; layout: OvaLayout }> {
  const dir = tempDir();
  const layout = planOvaLayout({
    descriptor: { name: 'a.ovf', sizeBytes: 100 },
    manifest: { name: 'a.mf', sizeBytes: manifestByteSize(['a.ovf', 'a.vmdk']) },
    disks: [{ name: 'a.vmdk', sizeBytes: size }, { name: 'b.vmdk', sizeBytes: 3 * MiB }],
    mtime: 0,
  });
  const partial = join(dir, '.a.ova.partial');
  await createOvaPartial(partial, layout.totalSize);
  const region = regionOf(layout, 0);
  const fd = openSync(partial, 'r+');
  try {
    const fill = Buffer.alloc(region.dataOffset - 512, 0xee);
    writeSync(fd, fill, 0, fill.length, 0);
    const after = Buffer.alloc(layout.totalSize - (region.dataOffset + size), 0xee);
    writeSync(fd, after, 0, after.length, region.dataOffset + size);
  } finally {
    closeSync(fd);
  }
  return { partial, region, layout };
}

/** Every byte outside [dataOffset - 512, dataOffset + size) is still 0xEE. */
function untouchedOutside(partial: string, region: OvaRegion, total: number): boolean {
  const before = readRange(partial, 0, region.dataOffset - 512);
  const afterAt = region.dataOffset + region.sizeBytes;
  const after = readRange(partial, afterAt, total - afterAt);
  return before.every((b) => b === 0xee) && after.every((b) => b === 0xee) && before.length + after.length === total - region.sizeBytes - 512;
}

const regionBytes = (partial: string, r: OvaRegion) => readRange(partial, r.dataOffset, r.sizeBytes);

describe('openOvaRegionWriter', () => {
  it('resumes from a checkpoint across a hole and reads the prefix back, never writing outside its place', async () => {
    const { partial, region, layout } = await oneDisk(16 * MiB + 5);
    const c: Content = { size: region.sizeBytes, pieces: [{ at: 0, bytes: randomBytes(2 * MiB) }, { at: 12 * MiB, bytes: randomBytes(4 * MiB + 5) }] };
    const first = await openOvaRegionWriter(partial, region);
    expect(first.resumeOffset).toBe(0);
    await stream(first, c, 0, 8 * MiB);
    const at = await first.commit();
    await first.close(); // the worker dies
    expect(at.offset).toBeGreaterThanOrEqual(7 * MiB);

    const second = await openOvaRegionWriter(partial, region, { checkpoint: cp(at) });
    expect(second.resumeOffset).toBe(at.offset);
    const prefix: Buffer[] = [];
    for await (const chunk of second.readPrefix!()) prefix.push(chunk);
    expect(sha256(Buffer.concat(prefix))).toBe(sha256(slice(c, 0, at.offset)));
    await stream(second, c, at.offset);
    await second.flush();
    await second.finish();
    expect(sha256(regionBytes(partial, region))).toBe(sha256(whole(c)));
    expect(untouchedOutside(partial, region, layout.totalSize)).toBe(true);
  });

  it('after a resume, zeros where an earlier attempt wrote data come out as zeros', async () => {
    const { partial, region, layout } = await oneDisk(8 * MiB);
    const first = await openOvaRegionWriter(partial, region);
    await stream(first, { size: region.sizeBytes, pieces: [{ at: 0, bytes: randomBytes(8 * MiB) }] });
    await first.flush();
    await first.close();
    // The checkpoint says 2 MiB; the earlier attempt wrote 8. From 2 MiB on, the source now reads zero.
    const want: Content = { size: region.sizeBytes, pieces: [{ at: 0, bytes: regionBytes(partial, region).subarray(0, 2 * MiB) }] };
    const second = await openOvaRegionWriter(partial, region, { checkpoint: { offset: 2 * MiB, sink: { kind: 'local', bootId: currentBootId, durableOffset: 2 * MiB } } });
    expect(second.resumeOffset).toBe(2 * MiB);
    await stream(second, want, 2 * MiB);
    await second.flush();
    await second.finish();
    expect(sha256(regionBytes(partial, region))).toBe(sha256(whole(want)));
    expect(untouchedOutside(partial, region, layout.totalSize)).toBe(true);
  });

  it('after reset(), a zero pass over an earlier attempt leaves zeros, and untouched zeros stay holes', async () => {
    const { partial, region } = await oneDisk(64 * MiB);
    const w = await openOvaRegionWriter(partial, region);
    await stream(w, { size: region.sizeBytes, pieces: [{ at: 0, bytes: randomBytes(4 * MiB) }] }, 0, 4 * MiB);
    await w.flush();
    await w.reset();
    const blocksBefore = statSync(partial).blocks;
    await stream(w, { size: region.sizeBytes, pieces: [] });
    await w.flush();
    await w.finish();
    expect(regionBytes(partial, region).every((b) => b === 0)).toBe(true);
    // The 4 MiB written before were overwritten in place; the other 60 MiB stayed holes.
    expect(statSync(partial).blocks - blocksBefore).toBeLessThan((MiB / 512) * 1);
  });

  it('starts over when the partial was recreated under a checkpoint (its marker slot is empty)', async () => {
    const { partial, region, layout } = await oneDisk(4 * MiB);
    const first = await openOvaRegionWriter(partial, region);
    await stream(first, { size: region.sizeBytes, pieces: [{ at: 0, bytes: randomBytes(4 * MiB) }] }, 0, 2 * MiB);
    const at = await first.commit();
    await first.close();
    expect(at.offset).toBeGreaterThan(0);
    await createOvaPartial(partial, layout.totalSize + 512); // another layout: emptied
    await createOvaPartial(partial, layout.totalSize);
    const second = await openOvaRegionWriter(partial, region, { checkpoint: cp(at) });
    expect(second.resumeOffset).toBe(0);
    await second.close();
  });

  it('an all-zero disk is resumable too: the first commit marks the region even though nothing was written', async () => {
    const { partial, region } = await oneDisk(8 * MiB);
    const first = await openOvaRegionWriter(partial, region);
    await stream(first, { size: region.sizeBytes, pieces: [] }, 0, 4 * MiB);
    const at = await first.commit();
    await first.close();
    const second = await openOvaRegionWriter(partial, region, { checkpoint: cp(at) });
    expect(second.resumeOffset).toBe(at.offset);
    await second.close();
  });

  it('fails, not retryably, on more bytes than its place holds or on fewer at finish', async () => {
    const { partial, region } = await oneDisk(2 * MiB);
    const over = await openOvaRegionWriter(partial, region);
    await over.write(Buffer.alloc(2 * MiB, 1));
    let released = false;
    const err = await over.write(Buffer.alloc(1), () => (released = true)).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'SinkError', nonRetryable: true });
    expect(released).toBe(true);
    await over.close();

    const under = await openOvaRegionWriter(partial, region);
    await under.write(Buffer.alloc(MiB, 1));
    await under.flush();
    expect(await under.finish().catch((e: unknown) => e)).toMatchObject({ type: 'SinkError', nonRetryable: true });
    await under.close();
  });

  it('refuses a partial too small for its region', async () => {
    const { partial, region } = await oneDisk(MiB);
    const small = partial + '.small';
    await createOvaPartial(small, region.dataOffset + 100);
    expect(await openOvaRegionWriter(small, region).catch((e: unknown) => e)).toMatchObject({ type: 'SinkError', nonRetryable: true });
  });
});
