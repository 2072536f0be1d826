// Throughput of the sparse raw writer on a 256 MiB disk, in 1 MiB extents (the
// transfer engine's batch size), finish() (its fdatasync) included:
// - fully allocated (random bytes everywhere);
// - mostly zeros (16 MiB of data in 256), the zeros once delivered as data extents
//   (a source without an allocation map: the writer finds them) and once declared
//   unallocated (skipZeros: no bytes handed over at all);
// each with both hashings and buffered, and with the default hashing and O_DIRECT,
// beside a baseline: plain buffered positional writes of every byte plus Node's
// SHA-256 (a non-sparse copy).
//
//   npx tsx src/storage/raw/raw-sparse-writer.bench.ts [MiB]
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDirect } from '../direct-io.js';
import { RawSparseWriter, type RawHashing } from './raw-sparse-writer.js';

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 256);
const size = sizeMiB * MiB;
const data = randomBytes(MiB);
const zeros = Buffer.alloc(MiB);
/** Mostly zeros: 1 MiB of data every 16 MiB. */
const isData = (mib: number, layout: 'full' | 'sparse'): boolean => layout === 'full' || mib % 16 === 0;

type Case = { layout: 'full' | 'sparse'; zerosAs: 'data' | 'unallocated' };
const dir = mkdtempSync(join(tmpdir(), 'hx-raw-bench-'));

async function ours(c: Case, hashing: RawHashing, io: 'buffered' | 'direct'): Promise<string> {
  const path = join(dir, 'out.raw');
  const fh = await open(path, 'w+');
  const direct = io === 'direct' ? await openDirect(path) : undefined;
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const w = await RawSparseWriter.create(fh, { sizeBytes: size, hashing, direct });
  if (w.writesDirect !== (io === 'direct')) throw new Error(`${dir}: O_DIRECT refused`);
  for (let mib = 0; mib < sizeMiB; mib++) {
    if (isData(mib, c.layout)) await w.write(mib * MiB, data);
    else if (c.zerosAs === 'data') await w.write(mib * MiB, zeros);
    else await w.skipZeros(mib * MiB, MiB);
  }
  await w.finish();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu);
  await direct?.close();
  await fh.close();
  const allocated = statSync(path).blocks * 512;
  rmSync(path);
  return `${(sizeMiB / s).toFixed(0).padStart(6)} MiB/s  ${s.toFixed(2)} s  cpu user ${(used.user / 1e6).toFixed(2)} s sys ${(used.system / 1e6).toFixed(2)} s  allocated ${(allocated / MiB).toFixed(0)} MiB`;
}

async function baseline(c: Case): Promise<string> {
  const path = join(dir, 'plain.raw');
  const fh = await open(path, 'w+');
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const h = createHash('sha256');
  for (let mib = 0; mib < sizeMiB; mib++) {
    const b = isData(mib, c.layout) ? data : zeros;
    h.update(b);
    await fh.write(b, 0, MiB, mib * MiB);
  }
  await fh.datasync();
  h.digest();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu);
  await fh.close();
  rmSync(path);
  return `${(sizeMiB / s).toFixed(0).padStart(6)} MiB/s  ${s.toFixed(2)} s  cpu user ${(used.user / 1e6).toFixed(2)} s sys ${(used.system / 1e6).toFixed(2)} s`;
}

try {
  const cases: Case[] = [
    { layout: 'full', zerosAs: 'data' },
    { layout: 'sparse', zerosAs: 'data' },
    { layout: 'sparse', zerosAs: 'unallocated' },
  ];
  for (const c of cases) {
    const name = c.layout === 'full' ? 'fully allocated' : `mostly zeros, zeros as ${c.zerosAs}`;
    const modes = [
      ['saved-state', 'buffered'],
      ['reread-prefix', 'buffered'],
      ['reread-prefix', 'direct'],
    ] as const;
    for (const [hashing, io] of modes) {
      const label = `${hashing} ${io}`;
      console.log(`${sizeMiB} MiB ${name.padEnd(34)} ${label.padEnd(22)} ${await ours(c, hashing, io)}`);
    }
    if (c.zerosAs === 'data')
      console.log(`${sizeMiB} MiB ${name.padEnd(34)} ${'baseline'.padEnd(22)} ${await baseline(c)}`);
  }
  console.log(
    `max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (whole process: Node, hash-wasm, buffers)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
