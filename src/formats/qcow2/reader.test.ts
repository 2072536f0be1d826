// The qcow2 reader against images qemu-img and qemu-io made: the map it reads
// must be qemu-img's, and the bytes the raw file's.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Qcow2ReadError, Qcow2Reader } from './reader.js';
import { qemuImg } from './test-support.js';

const dir = mkdtempSync(join(tmpdir(), 'qcow2-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;

async function imageOf(name: string, raw: Buffer, ...options: string[]): Promise<string> {
  const rawPath = join(dir, `${name}.raw`);
  writeFileSync(rawPath, raw);
  const path = join(dir, `${name}.qcow2`);
  const r = await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...options, rawPath, path);
  expect(r.code).toBe(0);
  return path;
}

describe('Qcow2Reader', () => {
  it('maps and reads exactly what qemu-img stored, across L2 regions', async () => {
    const raw = Buffer.alloc(1100 * MiB / 2); // 550 MiB: two L2 regions at 64 KiB clusters
    const pieces = [0, 3 * MiB + 4096, 512 * MiB - 8192, 540 * MiB];
    for (const at of pieces) randomBytes(100_000).copy(raw, at);
    const path = await imageOf('spread', raw);
    const file = await open(path, 'r');
    try {
      const reader = await Qcow2Reader.open(file, path);
      expect(reader.virtualSize).toBe(raw.length);
      const runs = [];
      for await (const run of reader.runs()) runs.push(run);
      const map = JSON.parse((await qemuImg('map', '--output=json', '-f', 'qcow2', path)).stdout) as { start: number; length: number; data: boolean }[];
      const qemuData = map.filter((m) => m.data).reduce((s, m) => s + m.length, 0);
      expect(runs.reduce((s, r) => s + r.length, 0)).toBe(qemuData);
      for (const run of runs) expect((await reader.read(run.guestOffset, run.length)).equals(raw.subarray(run.guestOffset, run.guestOffset + run.length))).toBe(true);
      // A read across allocated and unallocated clusters.
      expect((await reader.read(3 * MiB, 2 * MiB)).equals(raw.subarray(3 * MiB, 5 * MiB))).toBe(true);
      // From an offset: nothing before it.
      const later = [];
      for await (const run of reader.runs(500 * MiB)) later.push(run);
      expect(later[0]!.guestOffset + later[0]!.length).toBeGreaterThan(500 * MiB);
      expect(later.every((r) => r.guestOffset + r.length > 500 * MiB)).toBe(true);
    } finally {
      await file.close();
    }
  });

  it('refuses what it cannot read faithfully: compressed clusters, backing files, non-qcow2', async () => {
    const raw = Buffer.alloc(4 * MiB);
    randomBytes(MiB).copy(raw, MiB);
    const compressed = await imageOf('compressed', Buffer.concat([raw.subarray(0, 2 * MiB), Buffer.alloc(2 * MiB, 7)]), '-c');
    const file = await open(compressed, 'r');
    try {
      const reader = await Qcow2Reader.open(file, compressed);
      await expect(reader.read(2 * MiB, 65536)).rejects.toThrow(/compressed/);
    } finally {
      await file.close();
    }
    const base = await imageOf('base', raw);
    const overlay = join(dir, 'overlay.qcow2');
    expect((await qemuImg('create', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay)).code).toBe(0);
    const o = await open(overlay, 'r');
    await expect(Qcow2Reader.open(o, overlay)).rejects.toThrow(/backing file/);
    await o.close();
    const rawPath = join(dir, 'compressed.raw');
    const r = await open(rawPath, 'r');
    await expect(Qcow2Reader.open(r, rawPath)).rejects.toBeInstanceOf(Qcow2ReadError);
    await r.close();
    expect((await readFile(rawPath)).length).toBe(4 * MiB);
  });
});
