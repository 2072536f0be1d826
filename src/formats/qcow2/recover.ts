// Re-derives how many data clusters each closed region holds by reading the L2
// tables back from the file, for a checkpoint that kept only one bit per region
// (state.ts explains when). It relies on the layout (layout.ts): each non-empty
// region's data clusters are immediately followed by its L2 table, whose
// allocated entries point, in order, at exactly those clusters. So, walking
// backwards from the end of the closed regions, the cluster just before is the
// last region's L2 table; the number n of entries it maps says where the region
// started (n clusters before the table), and the cluster before that is the
// previous non-empty region's table, down to the end of the head (the header's
// cluster and any reserved after it).
//
// Cost: one cluster read per non-empty region (64 KiB per 512 MiB of guest
// data at the default cluster size: 256 MiB of reads for a full 2 TiB disk).

import { Qcow2WriterError } from './errors.js';
import { readU64, type Qcow2Geometry } from './layout.js';
import type { Qcow2Output } from './output.js';
import { bitIsSet } from './state.js';

const COPIED_HIGH_BIT = 0x8000_0000;

export async function recoverRegionCounts(
  file: Pick<Qcow2Output, 'read'>,
  g: Qcow2Geometry,
  present: Uint8Array,
  closedRegions: number,
  closedEndCluster: number,
  headClusters: number,
): Promise<Uint32Array> {
  const counts = new Uint32Array(g.l1Size);
  const table = Buffer.alloc(g.clusterSize);
  let end = closedEndCluster;
  for (let k = closedRegions - 1; k >= 0; k--) {
    if (!bitIsSet(present, k)) continue;
    const l2At = end - 1;
    if (l2At < headClusters) throw corrupt(`region ${k} should have an L2 table but the walk reached the head`);
    const { bytesRead } = await file.read(table, 0, g.clusterSize, l2At * g.clusterSize);
    if (bytesRead !== g.clusterSize) throw corrupt(`short read of region ${k}'s L2 table at offset ${l2At * g.clusterSize}`);
    const mapped = mappedClusters(table, g);
    const first = l2At - mapped.length;
    mapped.forEach((entry, m) => {
      if (entry.highBits !== COPIED_HIGH_BIT || entry.value !== (first + m) * g.clusterSize) {
        throw corrupt(`region ${k}'s L2 table at offset ${l2At * g.clusterSize}: entry ${m} maps host offset ${entry.value}, expected ${(first + m) * g.clusterSize}`);
      }
    });
    if (mapped.length === 0) throw corrupt(`region ${k}'s L2 table at offset ${l2At * g.clusterSize} maps no cluster`);
    counts[k] = mapped.length;
    end = first;
  }
  if (end !== headClusters) throw corrupt(`walking back over the L2 tables ended at cluster ${end}, not right after the head (${headClusters} clusters)`);
  return counts;
}

function mappedClusters(table: Buffer, g: Qcow2Geometry): { value: number; highBits: number }[] {
  const mapped: { value: number; highBits: number }[] = [];
  for (let j = 0; j < g.l2Entries; j++) {
    const entry = readU64(table, j * 8);
    if (entry.value !== 0 || entry.highBits !== 0) mapped.push(entry);
  }
  return mapped;
}

const corrupt = (what: string) => new Qcow2WriterError('file-corrupt', `resume: ${what}`);
