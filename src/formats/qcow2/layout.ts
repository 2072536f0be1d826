// The qcow2 (version 3) layout this writer produces, chosen so that every byte
// but the first cluster is written strictly in file order (append-only: a local
// file today, an S3 multipart upload later), in one pass over a disk whose
// extents arrive in increasing guest offset order:
//
//   cluster 0            header (written LAST, at offset 0)
//   clusters 1..head-1   unused (refcount 0; a hole in a local file), only when
//                        the caller reserves a head: an S3 upload reserves 5 MiB
//                        so its first part holds nothing but the header and
//                        zeros, and is made and uploaded at finish from nothing
//                        (no held-back data to lose in a kill)
//   then, per region     the region's allocated data clusters, in guest order,
//                        then the region's L2 table (only if the region has data)
//   then                 L1 table, refcount blocks, refcount table
//
// A "region" is the guest span one L2 table maps: clusterSize/8 clusters
// (512 MiB at 64 KiB clusters). Because guest order equals host order, a
// region's L2 table is known as soon as the input moves past the region's end,
// so it is written right then and forgotten: the writer never holds more than
// one L2 table, and the L1 table is derived at the end from one number per
// region (how many data clusters it holds). Every cluster of the file but the
// reserved head is used exactly once, so every refcount is 1 (bit 63 "COPIED"
// is set in every L1 and L2 entry, as qemu-img check expects for refcount 1)
// and the refcount blocks are all-ones but for the head's unused clusters.
//
// Unallocated guest clusters have L2 entry 0 (or no L2 table at all): with no
// backing file they read as zeros. The header has no extensions (the bytes
// after it are zero, which reads as the end-of-extensions marker), refcounts are
// 16 bits (refcount_order 4), no feature bits are set.
//
// Pure: no I/O. Numbers are JS numbers (offsets stay far below 2^53).

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const QCOW2_VERSION = 3;
const HEADER_LENGTH = 104; // v3 header without the optional compression-type byte
const REFCOUNT_ORDER = 4; // 16-bit refcounts
const REFCOUNT_BYTES = 2;
/** Bit 63 of L1/L2 entries ("COPIED": refcount is exactly 1), as the high bit of the high 32-bit word. */
const COPIED_HIGH_BIT = 0x8000_0000;
const TWO_POW_32 = 2 ** 32;

export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21; // qemu opens clusters up to 2 MiB
export const DEFAULT_CLUSTER_BITS = 16;

export interface Qcow2Geometry {
  virtualSize: number;
  clusterBits: number;
  clusterSize: number;
  /** L2 entries per table (= guest clusters per region). */
  l2Entries: number;
  /** log2(l2Entries). */
  l2Bits: number;
  /** Guest bytes one L2 table maps. */
  regionBytes: number;
  /** L1 entries = regions in the virtual disk. */
  l1Size: number;
  /** Guest clusters in the virtual disk (the last may be partial). */
  guestClusters: number;
}

export function qcow2Geometry(virtualSize: number, clusterBits: number): Qcow2Geometry {
  const clusterSize = 2 ** clusterBits;
  const l2Bits = clusterBits - 3;
  const l2Entries = 2 ** l2Bits;
  const regionBytes = clusterSize * l2Entries;
  return {
    virtualSize,
    clusterBits,
    clusterSize,
    l2Entries,
    l2Bits,
    regionBytes,
    l1Size: Math.ceil(virtualSize / regionBytes),
    guestClusters: Math.ceil(virtualSize / clusterSize),
  };
}

/** Writes a non-negative integer below 2^53 as a big-endian u64. */
export function writeU64(buf: Buffer, value: number, at: number, highBits = 0): void {
  buf.writeUInt32BE((Math.floor(value / TWO_POW_32) | highBits) >>> 0, at);
  buf.writeUInt32BE(value % TWO_POW_32, at + 4);
}

export function readU64(buf: Buffer, at: number): { value: number; highBits: number } {
  const high = buf.readUInt32BE(at);
  const low = buf.readUInt32BE(at + 4);
  const highBits = high & 0xff00_0000;
  return { value: (high & 0x00ff_ffff) * TWO_POW_32 + low, highBits: highBits >>> 0 };
}

/**
 * The L2 table of one region: entry j maps guest cluster j of the region. The
 * region's allocated clusters were appended in guest order starting at host
 * cluster firstHostCluster, so the n-th set bit of the bitmap maps to
 * firstHostCluster + n.
 */
export function buildL2Table(g: Qcow2Geometry, allocated: Uint8Array, firstHostCluster: number): Buffer {
  const table = Buffer.alloc(g.clusterSize);
  let host = firstHostCluster;
  for (let j = 0; j < g.l2Entries; j++) {
    if (((allocated[j >> 3] ?? 0) & (1 << (j & 7))) === 0) continue;
    writeU64(table, host * g.clusterSize, j * 8, COPIED_HIGH_BIT);
    host++;
  }
  return table;
}

/** Where each region's L2 table is (host cluster), or -1 where the region has no data. */
export function l2TableClusters(regionDataClusters: ArrayLike<number>, headClusters: number): number[] {
  const where: number[] = [];
  let host = headClusters; // the header and the unused rest of the head come first
  for (let k = 0; k < regionDataClusters.length; k++) {
    const n = regionDataClusters[k] ?? 0;
    host += n;
    if (n > 0) where.push(host++);
    else where.push(-1);
  }
  return where;
}

/** The metadata appended after the last region, and the final file length. */
export interface Qcow2TailPlan {
  /** Clusters before the first data cluster: the header's and unused ones (refcount 0). */
  headClusters: number;
  l1Offset: number;
  l1Clusters: number;
  refcountBlocksOffset: number;
  refcountBlocks: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  /** Clusters in the finished file (all with refcount 1). */
  totalClusters: number;
  fileLength: number;
}

/**
 * Sizes the tail for a file whose data and L2 tables end at host cluster
 * dataEndCluster. The refcount blocks must count the clusters they and the
 * refcount table occupy, hence the fixed point (it settles in two or three
 * rounds: each refcount block covers clusterSize/2 clusters).
 */
export function planTail(g: Qcow2Geometry, dataEndCluster: number, headClusters: number): Qcow2TailPlan {
  const l1Clusters = Math.ceil((g.l1Size * 8) / g.clusterSize);
  const perBlock = g.clusterSize / REFCOUNT_BYTES;
  const perTableCluster = g.clusterSize / 8;
  let refcountBlocks = 1;
  let refcountTableClusters = 1;
  for (;;) {
    const total = dataEndCluster + l1Clusters + refcountBlocks + refcountTableClusters;
    const needBlocks = Math.ceil(total / perBlock);
    const needTable = Math.ceil(needBlocks / perTableCluster);
    if (needBlocks <= refcountBlocks && needTable <= refcountTableClusters) break;
    refcountBlocks = Math.max(refcountBlocks, needBlocks);
    refcountTableClusters = Math.max(refcountTableClusters, needTable);
  }
  const cs = g.clusterSize;
  const l1Offset = dataEndCluster * cs;
  const refcountBlocksOffset = l1Offset + l1Clusters * cs;
  const refcountTableOffset = refcountBlocksOffset + refcountBlocks * cs;
  const totalClusters = dataEndCluster + l1Clusters + refcountBlocks + refcountTableClusters;
  return {
    headClusters,
    l1Offset,
    l1Clusters,
    refcountBlocksOffset,
    refcountBlocks,
    refcountTableOffset,
    refcountTableClusters,
    totalClusters,
    fileLength: totalClusters * cs,
  };
}

/** The L1 table in pieces of at most maxBytes (a multiple of 8), padded with zeros to whole clusters. */
export function* l1TablePieces(g: Qcow2Geometry, l2Clusters: number[], plan: Qcow2TailPlan, maxBytes = 1 << 20): Generator<Buffer> {
  const totalBytes = plan.l1Clusters * g.clusterSize;
  for (let start = 0; start < totalBytes; start += maxBytes) {
    const piece = Buffer.alloc(Math.min(maxBytes, totalBytes - start));
    for (let at = 0; at < piece.length; at += 8) {
      const host = l2Clusters[(start + at) / 8];
      if (host !== undefined && host >= 0) writeU64(piece, host * g.clusterSize, at, COPIED_HIGH_BIT);
    }
    yield piece;
  }
}

/** The refcount blocks, one cluster each: refcount 1 for the header and every cluster after the head, 0 in the head's unused rest and past the end. */
export function* refcountBlocks(g: Qcow2Geometry, plan: Qcow2TailPlan): Generator<Buffer> {
  const perBlock = g.clusterSize / REFCOUNT_BYTES;
  let allOnes: Buffer | undefined;
  for (let b = 0; b < plan.refcountBlocks; b++) {
    const first = b * perBlock;
    const used = Math.min(perBlock, Math.max(0, plan.totalClusters - first));
    if (first < plan.headClusters) {
      const block = Buffer.alloc(g.clusterSize);
      for (let i = 0; i < used; i++) {
        const cluster = first + i;
        if (cluster === 0 || cluster >= plan.headClusters) block.writeUInt16BE(1, i * REFCOUNT_BYTES);
      }
      yield block;
      continue;
    }
    if (used === perBlock) {
      if (!allOnes) {
        allOnes = Buffer.alloc(g.clusterSize);
        for (let i = 0; i < perBlock; i++) allOnes.writeUInt16BE(1, i * REFCOUNT_BYTES);
      }
      yield allOnes;
      continue;
    }
    const block = Buffer.alloc(g.clusterSize);
    for (let i = 0; i < used; i++) block.writeUInt16BE(1, i * REFCOUNT_BYTES);
    yield block;
  }
}

export function refcountTable(g: Qcow2Geometry, plan: Qcow2TailPlan): Buffer {
  const table = Buffer.alloc(plan.refcountTableClusters * g.clusterSize);
  for (let b = 0; b < plan.refcountBlocks; b++) writeU64(table, plan.refcountBlocksOffset + b * g.clusterSize, b * 8);
  return table;
}

/** Cluster 0: the version 3 header, no extensions, zeros to the end of the cluster. */
export function buildHeader(g: Qcow2Geometry, plan: Qcow2TailPlan): Buffer {
  const h = Buffer.alloc(g.clusterSize);
  h.writeUInt32BE(QCOW2_MAGIC, 0);
  h.writeUInt32BE(QCOW2_VERSION, 4);
  // 8: backing_file_offset 0, 16: backing_file_size 0
  h.writeUInt32BE(g.clusterBits, 20);
  writeU64(h, g.virtualSize, 24);
  // 32: crypt_method 0
  h.writeUInt32BE(g.l1Size, 36);
  writeU64(h, plan.l1Offset, 40);
  writeU64(h, plan.refcountTableOffset, 48);
  h.writeUInt32BE(plan.refcountTableClusters, 56);
  // 60: nb_snapshots 0, 64: snapshots_offset 0, 72/80/88: feature bitmaps 0
  h.writeUInt32BE(REFCOUNT_ORDER, 96);
  h.writeUInt32BE(HEADER_LENGTH, 100);
  return h;
}

/**
 * The header the writer ends with when every guest cluster holds data: each
 * region then stores all its clusters and one L2 table, so the whole layout
 * follows from the geometry alone. Knowing it up front lets a fully allocated
 * image be hashed as it is written (the header is written last, at offset 0).
 */
export function fullImageHeader(g: Qcow2Geometry, headClusters: number): Buffer {
  return buildHeader(g, planTail(g, headClusters + g.guestClusters + g.l1Size, headClusters));
}
