// qemu-img's streamOptimized files keep their grain directory and tables inside
// the overhead (before the first marker), filled in by the time the file is
// served, and may end without an end-of-stream marker (an all-zero disk is the
// header and overhead alone). Reading those tables as they stream past tells the
// decoder how many grains must follow, so it can still tell a complete stream
// from a cut one. Only counts are kept, not the tables: memory is one table
// sector at a time plus one number per grain table (64 Ki numbers for 2 TiB).
// A writer that cannot seek back may leave these tables zeroed and stream its
// real ones as markers; the decoder therefore trusts tables that list no grain
// only to accept a stream that ends right there (qemu's empty disk).

import { VmdkStreamError } from './errors.js';
import { roundUp, SECTOR, type SparseExtentHeader } from './sparse-header.js';

/** What the embedded tables promise the stream holds. */
export interface ExpectedGrains {
  grains: number;
  /** Input byte offset of the last grain's marker (0 when there is none). */
  lastGrainInputOffset: number;
}

/** The decoder's stream operations this needs. */
export interface OverheadReader {
  readonly position: number;
  skipTo(inputOffset: number, what: string): Promise<void>;
  readExactly(n: number, what: string): Promise<Buffer>;
}

/**
 * Advances the stream to `overheadBytes`; on the way reads the grain directory
 * and tables when the header places them inside the overhead. Returns undefined
 * when it does not (ESXi puts them at the end, as markers).
 */
export async function readEmbeddedTables(reader: OverheadReader, header: SparseExtentHeader): Promise<ExpectedGrains | undefined> {
  const overhead = header.overheadBytes;
  const gdAt = header.gdOffsetSectors === undefined ? undefined : header.gdOffsetSectors * SECTOR;
  const tables = Math.ceil(Math.ceil(header.capacityBytes / header.grainBytes) / header.numGTEsPerGT);
  const gdBytes = roundUp(tables * 4, SECTOR);
  if (gdAt === undefined || gdAt < reader.position || gdAt + gdBytes > overhead) {
    await reader.skipTo(overhead, 'the first marker (overHead)');
    return undefined;
  }
  await reader.skipTo(gdAt, 'the grain directory');
  const tableOffsets: number[] = [];
  for (let sector = 0; sector * SECTOR < gdBytes; sector += 1) {
    const gd = await reader.readExactly(SECTOR, 'the grain directory');
    for (let i = 0; i < SECTOR / 4 && sector * (SECTOR / 4) + i < tables; i += 1) {
      const gtSector = gd.readUInt32LE(i * 4);
      if (gtSector !== 0) tableOffsets.push(gtSector * SECTOR);
    }
  }
  tableOffsets.sort((a, b) => a - b);
  const gtBytes = header.numGTEsPerGT * 4;
  let grains = 0;
  let lastGrainSector = 0;
  for (const gtAt of tableOffsets) {
    if (gtAt < reader.position || gtAt + gtBytes > overhead) {
      throw new VmdkStreamError(
        'bad-header',
        gdAt,
        `grain directory points to a grain table at byte ${gtAt}, outside the overhead after the directory (${reader.position}..${overhead})`,
      );
    }
    await reader.skipTo(gtAt, 'a grain table');
    const gt = await reader.readExactly(gtBytes, 'a grain table');
    for (let i = 0; i < header.numGTEsPerGT; i += 1) {
      const grainSector = gt.readUInt32LE(i * 4);
      // 0 = never written, 1 = zeroed grain (version 2+): neither is in the stream.
      if (grainSector <= 1) continue;
      grains += 1;
      lastGrainSector = Math.max(lastGrainSector, grainSector);
    }
  }
  await reader.skipTo(overhead, 'the first marker (overHead)');
  return { grains, lastGrainInputOffset: lastGrainSector * SECTOR };
}
