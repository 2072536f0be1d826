// A vcsim disk with data at the start, in the middle (not cluster-aligned) and at
// the very end, and long zero runs (holes) between: what a thin guest disk looks
// like, and what shows whether an image writer stores, skips and places clusters
// right. The "-flat.vmdk" (what a datastore read of a real ESXi disk fetches) is
// the same file, as writeVmDiskContent makes it.
import { existsSync } from 'node:fs';
import { link, open, rm } from 'node:fs/promises';
import type { GovcTarget } from '../../src/devservices/govc.js';
import { diskContentRange, diskLocalPath } from '../harness/vcsim-disks.js';

const MiB = 1024 * 1024;

export interface PatternedDisk {
  path: string;
  /** Bytes of non-zero data written. */
  dataBytes: number;
}

export function patternExtents(sizeBytes: number): { start: number; length: number }[] {
  return [
    { start: 0, length: 3 * MiB },
    { start: Math.floor(sizeBytes / 2) + 123 * 1024 + 17, length: 2 * MiB + 5 },
    { start: sizeBytes - MiB - 4096 - 512, length: MiB + 4096 + 512 },
  ];
}

export async function writePatternedDisk(target: GovcTarget, backingFile: string, sizeBytes: number, seed: string): Promise<PatternedDisk> {
  const path = await diskLocalPath(target, backingFile);
  const fh = await open(path, 'w');
  let dataBytes = 0;
  try {
    await fh.truncate(sizeBytes);
    for (const e of patternExtents(sizeBytes)) {
      const bytes = diskContentRange(seed, e.start, e.start + e.length);
      await fh.write(bytes, 0, bytes.length, e.start);
      dataBytes += e.length;
    }
  } finally {
    await fh.close();
  }
  const flat = path.replace(/\.vmdk$/, '-flat.vmdk');
  if (flat !== path && existsSync(flat)) {
    await rm(flat, { force: true });
    await link(path, flat);
  }
  return { path, dataBytes };
}
