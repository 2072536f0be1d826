// Reads a qcow2 image's allocation map and data: what an incremental export
// needs from the image an earlier export wrote (the changes are applied over
// it). Only plain images are read: no backing file, no encryption, no
// compressed clusters, no internal snapshots, not marked dirty. Anything else is
// refused by name rather than read wrongly. A cluster marked "reads as zeros"
// (v3) counts as unallocated.
import { MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, QCOW2_MAGIC, qcow2Geometry, readU64, type Qcow2Geometry } from './layout.js';

/** The offset bits (9..55) of an L1 or L2 entry; bit 62 marks a compressed cluster, bit 0 a zero cluster. */
const OFFSET_MASK_HIGH = 0x00ff_ffff;
const COMPRESSED_HIGH_BIT = 0x4000_0000;

export class Qcow2ReadError extends Error {
  override readonly name = 'Qcow2ReadError';
}

/** What the reader needs of the image: reads by offset (a local file, an object's ranged GETs). */
export interface Qcow2ImageBytes {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** A run of guest bytes whose host bytes are contiguous in the file. */
export interface Qcow2Run {
  guestOffset: number;
  length: number;
  hostOffset: number;
}

export class Qcow2Reader {
  private readonly l2Cache = new Map<number, Promise<Buffer | undefined>>();

  private constructor(
    private readonly file: Qcow2ImageBytes,
    readonly geometry: Qcow2Geometry,
    private readonly l1: Buffer,
  ) {}

  get virtualSize(): number {
    return this.geometry.virtualSize;
  }

  static async open(file: Qcow2ImageBytes, name: string): Promise<Qcow2Reader> {
    const header = Buffer.alloc(104);
    const { bytesRead } = await file.read(header, 0, header.length, 0);
    if (bytesRead < 72 || header.readUInt32BE(0) !== QCOW2_MAGIC) throw new Qcow2ReadError(`${name} is not a qcow2 image (no qcow2 magic)`);
    const version = header.readUInt32BE(4);
    if (version !== 2 && version !== 3) throw new Qcow2ReadError(`${name}: qcow2 version ${version} is not read (2 or 3 are)`);
    if (readU64(header, 8).value !== 0) throw new Qcow2ReadError(`${name} has a backing file: only standalone images are read`);
    const clusterBits = header.readUInt32BE(20);
    if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) throw new Qcow2ReadError(`${name}: cluster bits ${clusterBits} out of range`);
    if (header.readUInt32BE(32) !== 0) throw new Qcow2ReadError(`${name} is encrypted`);
    if (header.readUInt32BE(60) !== 0) throw new Qcow2ReadError(`${name} holds internal snapshots`);
    if (version === 3 && bytesRead >= 80) {
      const incompatible = readU64(header, 72);
      if (incompatible.value !== 0 || incompatible.highBits !== 0) {
        throw new Qcow2ReadError(`${name} uses incompatible qcow2 features (bits ${incompatible.value.toString(2)}: dirty, corrupt, external data or extended L2)`);
      }
    }
    const g = qcow2Geometry(readU64(header, 24).value, clusterBits);
    const l1Size = header.readUInt32BE(36);
    if (l1Size < g.l1Size) throw new Qcow2ReadError(`${name}: its L1 table (${l1Size} entries) does not cover its virtual size`);
    const l1 = Buffer.alloc(g.l1Size * 8);
    const l1Read = await file.read(l1, 0, l1.length, readU64(header, 40).value);
    if (l1Read.bytesRead !== l1.length) throw new Qcow2ReadError(`${name}: short read of its L1 table`);
    return new Qcow2Reader(file, g, l1);
  }

  /** The allocated guest bytes from `from` on, in runs contiguous in the file (the first may start before `from`). */
  async *runs(from = 0): AsyncGenerator<Qcow2Run> {
    const g = this.geometry;
    let run: Qcow2Run | undefined;
    for (let cluster = Math.floor(from / g.clusterSize); cluster < g.guestClusters; cluster++) {
      if (cluster % g.l2Entries === 0 || cluster === Math.floor(from / g.clusterSize)) {
        // A region without an L2 table is skipped whole.
        const region = Math.floor(cluster / g.l2Entries);
        if ((await this.l2Table(region)) === undefined) {
          cluster = (region + 1) * g.l2Entries - 1;
          continue;
        }
      }
      const host = await this.hostOffset(cluster);
      const guest = cluster * g.clusterSize;
      const length = Math.min(g.clusterSize, g.virtualSize - guest);
      if (host === undefined) continue;
      if (run && run.guestOffset + run.length === guest && run.hostOffset + run.length === host) {
        run.length += length;
        continue;
      }
      if (run) yield run;
      run = { guestOffset: guest, length, hostOffset: host };
    }
    if (run) yield run;
  }

  /**
   * Guest bytes [offset, offset+length): allocated clusters from the file, the rest
   * zeros. Clusters that follow each other in the file too are read at once: one
   * request, not one per cluster, where each read is a round trip (S3).
   */
  async read(offset: number, length: number): Promise<Buffer> {
    const g = this.geometry;
    const out = Buffer.alloc(length);
    const end = offset + length;
    for (let at = offset; at < end; ) {
      const cluster = Math.floor(at / g.clusterSize);
      const host = await this.hostOffset(cluster);
      let n = Math.min((cluster + 1) * g.clusterSize, end) - at;
      if (host !== undefined) {
        const start = host + (at - cluster * g.clusterSize);
        for (let next = cluster + 1; at + n < end && (await this.hostOffset(next)) === host + (next - cluster) * g.clusterSize; next++) {
          n = Math.min((next + 1) * g.clusterSize, end) - at;
        }
        const { bytesRead } = await this.file.read(out, at - offset, n, start);
        if (bytesRead !== n) throw new Qcow2ReadError(`short read of guest bytes ${at}-${at + n - 1} at host offset ${start}`);
      }
      at += n;
    }
    return out;
  }

  private async hostOffset(cluster: number): Promise<number | undefined> {
    const g = this.geometry;
    const table = await this.l2Table(Math.floor(cluster / g.l2Entries));
    if (!table) return undefined;
    const at = (cluster % g.l2Entries) * 8;
    const high = table.readUInt32BE(at);
    const low = table.readUInt32BE(at + 4);
    if ((high & COMPRESSED_HIGH_BIT) !== 0) throw new Qcow2ReadError(`guest cluster ${cluster} is compressed: compressed images are not read`);
    if ((low & 1) !== 0) return undefined; // reads as zeros
    const offset = (high & OFFSET_MASK_HIGH) * 2 ** 32 + (low & 0xffff_fe00);
    return offset === 0 ? undefined : offset;
  }

  /** The region's L2 table; reads of one region in flight at once share one fetch of it. */
  private l2Table(region: number): Promise<Buffer | undefined> {
    const cached = this.l2Cache.get(region);
    if (cached) return cached;
    const table = this.fetchL2Table(region);
    // Regions are walked in order: keep a few tables, not every one a large disk has.
    if (this.l2Cache.size >= 8) this.l2Cache.delete(this.l2Cache.keys().next().value!);
    this.l2Cache.set(region, table);
    table.catch(() => this.l2Cache.get(region) === table && this.l2Cache.delete(region)); // a failed fetch is tried again
    return table;
  }

  private async fetchL2Table(region: number): Promise<Buffer | undefined> {
    const high = this.l1.readUInt32BE(region * 8);
    const low = this.l1.readUInt32BE(region * 8 + 4);
    const offset = (high & OFFSET_MASK_HIGH) * 2 ** 32 + (low & 0xffff_fe00);
    if (offset === 0) return undefined;
    const table = Buffer.alloc(this.geometry.clusterSize);
    const { bytesRead } = await this.file.read(table, 0, table.length, offset);
    if (bytesRead !== table.length) throw new Qcow2ReadError(`short read of the L2 table of region ${region}`);
    return table;
  }
}
