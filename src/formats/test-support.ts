// Shared by the disk-format tests (not used by the product, not built): sizes,
// replayable pseudo-random numbers, scratch directories, and the qemu-img that
// scripts/install-tools.sh links into .tools/bin, the independent judge.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuImgPath } from '../devservices/tools.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failing case replays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeTempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `hypersdk-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The qemu-img the tests judge with: the one `npm run tools` links, else the one on PATH (`npm run test:unit` alone). */
export function qemuImgBinary(): string {
  try {
    return qemuImgPath();
  } catch {
    return 'qemu-img';
  }
}
