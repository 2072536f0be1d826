// One-pass qcow2 writer: takes a virtual disk as extents in increasing guest
// offset order and writes a qcow2 v3 image that stores only the clusters holding
// non-zero bytes. The layout (layout.ts) is append-only except the header
// cluster, written last at offset 0; checkpoints are small JSON (state.ts) and
// a killed transfer resumes from the last one (resume()).
//
// Memory: one pending partial cluster, one open region's allocation bitmap
// (clusterSize/64 bytes), one u32 per region (8 KiB per TiB of virtual size at
// 64 KiB clusters) and, while a write() call runs, references to at most 8 MiB
// of the caller's own buffers (never copied). The L2 tables are written region by
// region as the input passes them and are never held together. For an output
// that makes only whole parts durable (output.ts), one small point per flush
// not yet durable: at most 1/64 of the bytes waiting for the next part.
//
// Calls must be awaited one at a time (a concurrent call is refused). The file
// is not a valid image until finish() has written the header: a killed transfer
// leaves a file that no reader takes for a finished qcow2.

import { Qcow2WriterError } from './errors.js';
import {
  buildHeader,
  buildL2Table,
  DEFAULT_CLUSTER_BITS,
  l1TablePieces,
  l2TableClusters,
  MAX_CLUSTER_BITS,
  MIN_CLUSTER_BITS,
  planTail,
  qcow2Geometry,
  refcountBlocks,
  refcountTable,
  type Qcow2Geometry,
} from './layout.js';
import type { Qcow2Output } from './output.js';
import { recoverRegionCounts } from './recover.js';
import {
  assertStateShape,
  decodeBitmap,
  decodeRegionCounts,
  DEFAULT_COMPACT_STATE_BYTES,
  encodeBitmap,
  encodeRegionCounts,
  MAX_STATE_BYTES,
  popcount,
  presenceBitmap,
  QCOW2_STATE_FORMAT,
  worstCaseStateBytes,
  type Qcow2WriterState,
} from './state.js';

/** Where the writer stood after a flush: enough to describe a checkpoint at that file length later. */
interface DurablePoint {
  resumeOffset: number;
  fileLength: number;
  closedRegions: number;
  openBits: Uint8Array;
}

export interface Qcow2WriterOptions {
  virtualSize: number;
  /** log2 of the cluster size: 9..21, default 16 (64 KiB). */
  clusterBits?: number;
  /**
   * Checkpoints give per-region counts while their JSON is at most this long
   * (default 48 KiB), else one bit per region and resume re-reads the counts from
   * the file (state.ts). Either way a state never passes MAX_STATE_BYTES (56 KiB).
   */
  compactStateBytes?: number;
  /**
   * Bytes reserved at the start of the file for the header (rounded up to whole
   * clusters; default and minimum one cluster). An S3 multipart upload reserves
   * 5 MiB, the smallest part, so that its first part holds only the header and
   * zeros and is made at finish from nothing (layout.ts).
   */
  headBytes?: number;
}

export interface Qcow2FinishResult {
  /** Bytes in the finished file. */
  fileLength: number;
  /** Guest clusters stored (the rest read as zeros). */
  dataClusters: number;
  /** Header, L2, L1 and refcount clusters, and the reserved head's unused ones. */
  metadataClusters: number;
}

const SECTOR = 512;
const MAX_HEAD_BYTES = 64 << 20;
const BATCH_MAX_BYTES = 8 << 20;
const BATCH_MAX_BUFFERS = 1024; // IOV_MAX on Linux

export class Qcow2Writer {
  private readonly g: Qcow2Geometry;
  private readonly zeroCluster: Buffer;
  /** Guest bytes received so far (data or zeros). */
  private position = 0;
  /** The cluster containing `position` while it is partly received (position not cluster-aligned and short of the virtual size). */
  private readonly pending: Buffer;
  /** The region whose clusters are being decided; regions before it are closed (L2 table written if they hold data). */
  private openRegion = 0;
  private readonly openBits: Uint8Array;
  private openCount = 0;
  /** Data clusters per closed region. */
  private readonly regionCounts: Uint32Array;
  /** Clusters appended to the file so far (batched ones included), cluster 0 being the header's place. */
  private hostClusters: number;
  /** File bytes actually written (the batch goes at this offset). */
  private writtenLength: number;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** For outputs with durableLength(): the points after the newest durable one, that one included (oldest first). */
  private points: DurablePoint[] = [];
  private finishing = false;
  private busy = false;
  /** All-zero clusters of data still to be stored rather than skipped (storeZeroClusters). */
  private zeroClustersToStore = 0;
  /** Data clusters stored since this writer was created or resumed. */
  private storedThisRun = 0;
  private closedReason: string | undefined;

  private constructor(
    private readonly out: Qcow2Output,
    g: Qcow2Geometry,
    private readonly compactStateBytes: number,
    private readonly headClusters: number,
  ) {
    this.g = g;
    this.zeroCluster = Buffer.alloc(g.clusterSize);
    this.pending = Buffer.alloc(g.clusterSize);
    this.openBits = new Uint8Array(g.l2Entries / 8);
    this.regionCounts = new Uint32Array(g.l1Size);
    this.hostClusters = headClusters;
    this.writtenLength = headClusters * g.clusterSize;
  }

  /** Starts a new image on an empty (or to-be-emptied) file. */
  static async create(out: Qcow2Output, options: Qcow2WriterOptions): Promise<Qcow2Writer> {
    const g = checkedGeometry(options.virtualSize, options.clusterBits ?? DEFAULT_CLUSTER_BITS);
    const headBytes = options.headBytes ?? g.clusterSize;
    if (!Number.isSafeInteger(headBytes) || headBytes < 0 || headBytes > MAX_HEAD_BYTES) {
      throw new Qcow2WriterError('bad-option', `headBytes ${headBytes} is not an integer in 0..${MAX_HEAD_BYTES}`);
    }
    const headClusters = Math.max(1, Math.ceil(headBytes / g.clusterSize));
    const writer = new Qcow2Writer(out, g, options.compactStateBytes ?? DEFAULT_COMPACT_STATE_BYTES, headClusters);
    // Stale bytes past what we write would otherwise stay in the file.
    await out.truncate(0);
    writer.recordPoint();
    return writer;
  }

  /**
   * Continues an image from a checkpoint taken before a kill: the file is cut back
   * to the checkpoint's length (anything written after it is dropped) and the
   * caller feeds extents again from state.resumeOffset.
   */
  static async resume(out: Qcow2Output, state: unknown, options: Pick<Qcow2WriterOptions, 'compactStateBytes'> = {}): Promise<Qcow2Writer> {
    assertStateShape(state);
    const g = checkedGeometry(state.virtualSize, state.clusterBits);
    if (state.headClusters < 1 || state.headClusters * g.clusterSize > MAX_HEAD_BYTES + g.clusterSize) {
      throw new Qcow2WriterError('bad-state', `checkpoint state: headClusters ${state.headClusters} out of range`);
    }
    const writer = new Qcow2Writer(out, g, options.compactStateBytes ?? DEFAULT_COMPACT_STATE_BYTES, state.headClusters);
    await writer.restore(state);
    writer.recordPoint();
    return writer;
  }

  /** Guest offset up to which input was received. */
  get receivedOffset(): number {
    return this.position;
  }

  /**
   * Data at guest offset `offset`; bytes between the previous extent and this one
   * are zeros. The writer keeps no reference to `data` once this resolves, so the
   * caller may reuse the buffer.
   */
  async write(offset: number, data: Buffer): Promise<void> {
    await this.run('write', offset, data.length, () => this.receive(offset, data.length, data));
  }

  /**
   * Stores the next `count` all-zero clusters that arrive as data (write(), not
   * skipZeros) as ordinary data clusters instead of skipping them. For an output
   * that makes only whole parts durable (S3): during a long zero run nothing is
   * appended, so the bytes waiting for the next part, and with them the resume
   * point, would stay behind; a few stored zero clusters complete that part. The
   * image reads the same; it only stores those clusters.
   */
  storeZeroClusters(count: number): void {
    if (!Number.isSafeInteger(count) || count < 0) throw new Qcow2WriterError('bad-option', `storeZeroClusters: ${count} is not a cluster count`);
    this.zeroClustersToStore = count;
  }

  /**
   * Whether every whole cluster received since create() was stored (none was all
   * zeros): the image's layout is then the fully allocated one (layout.ts
   * fullImageHeader). Meaningless after resume().
   */
  get everyClusterStored(): boolean {
    return this.storedThisRun === Math.floor(this.position / this.g.clusterSize);
  }

  /** Cluster size in bytes. */
  get clusterSize(): number {
    return this.g.clusterSize;
  }

  /** Declares [offset, offset+length) as zeros (e.g. unallocated at the source): nothing is stored for it. */
  async skipZeros(offset: number, length: number): Promise<void> {
    await this.run('skipZeros', offset, length, () => this.receive(offset, length, undefined));
  }

  /**
   * Makes everything written so far durable (fdatasync) and returns the state to
   * resume from. Its resumeOffset may be up to one cluster before receivedOffset:
   * a partly received cluster is not in the file yet and must be fed again.
   */
  async checkpoint(): Promise<Qcow2WriterState> {
    return this.run('checkpoint', undefined, 0, async () => {
      await this.flush();
      await this.out.datasync();
      if (!this.out.durableLength) return this.describe(this.currentPoint());
      const durable = this.out.durableLength();
      this.prunePoints(durable);
      const point = this.points[0];
      if (!point || point.fileLength > durable) {
        throw new Qcow2WriterError('bad-state', `checkpoint: the output says ${durable} bytes are durable, less than the head; nothing to resume from`);
      }
      return this.describe(point);
    });
  }

  /** Treats the rest of the disk as zeros, writes the tables and then the header, and syncs. */
  async finish(): Promise<Qcow2FinishResult> {
    const result = await this.run('finish', undefined, 0, async () => {
      const g = this.g;
      this.finishing = true; // the tail's flushes are no points to resume from
      if (this.position < g.virtualSize) await this.receive(this.position, g.virtualSize - this.position, undefined);
      this.closeRegionsBefore(g.l1Size);
      const dataClusters = this.regionCounts.reduce((sum, n) => sum + n, 0);
      const plan = planTail(g, this.hostClusters, this.headClusters);
      for (const piece of l1TablePieces(g, l2TableClusters(this.regionCounts, this.headClusters), plan)) await this.appendAndMaybeFlush(piece);
      for (const block of refcountBlocks(g, plan)) await this.appendAndMaybeFlush(block);
      this.append(refcountTable(g, plan));
      await this.flush();
      if (this.hostClusters !== plan.totalClusters) {
        throw new Error(`qcow2 writer: tail ended at cluster ${this.hostClusters}, plan says ${plan.totalClusters}`);
      }
      await writeAll(this.out, buildHeader(g, plan), 0);
      await this.out.datasync();
      return { fileLength: plan.fileLength, dataClusters, metadataClusters: plan.totalClusters - dataClusters };
    });
    this.closedReason = 'the image is finished';
    return result;
  }

  // --- feeding -------------------------------------------------------------

  private async receive(offset: number, length: number, data: Buffer | undefined): Promise<void> {
    if (offset > this.position) await this.receive(this.position, offset - this.position, undefined);
    const cs = this.g.clusterSize;
    const end = this.g.virtualSize;
    let i = 0;
    const within = this.position % cs;
    if (within !== 0 && length > 0) {
      // Completes (part of) the pending cluster.
      const take = Math.min(cs - within, length);
      if (data) data.copy(this.pending, within, 0, take);
      i = take;
      this.position += take;
      if (this.position % cs === 0 || this.position === end) this.decidePending();
    }
    if (!data) {
      // Whole zero clusters cost nothing: regions close lazily when data or finish() comes.
      const whole = Math.floor((length - i) / cs) * cs;
      i += whole;
      this.position += whole;
    }
    while (data && length - i >= cs) {
      const cluster = this.position / cs;
      const slice = data.subarray(i, i + cs);
      if (!slice.equals(this.zeroCluster)) this.store(cluster, slice);
      else if (this.zeroClustersToStore > 0) {
        this.zeroClustersToStore--;
        this.store(cluster, this.zeroCluster);
      }
      i += cs;
      this.position += cs;
      if (this.batchFull()) await this.flush();
    }
    if (i < length) {
      // Starts a new pending cluster with the tail.
      this.pending.fill(0);
      if (data) data.copy(this.pending, 0, i, length);
      this.position += length - i;
      if (this.position === end) this.decidePending();
    }
    await this.flush();
  }

  private decidePending(): void {
    if (this.pending.equals(this.zeroCluster)) return;
    const cluster = Math.floor((this.position - 1) / this.g.clusterSize);
    this.store(cluster, Buffer.from(this.pending));
  }

  private store(guestCluster: number, data: Buffer): void {
    this.storedThisRun++;
    this.closeRegionsBefore(Math.floor(guestCluster / this.g.l2Entries));
    const j = guestCluster % this.g.l2Entries;
    this.openBits[j >> 3]! |= 1 << (j & 7);
    this.openCount++;
    this.append(data);
  }

  /** Closes every region before `region`: a region with data gets its L2 table right after its data. */
  private closeRegionsBefore(region: number): void {
    while (this.openRegion < region) {
      this.regionCounts[this.openRegion] = this.openCount;
      if (this.openCount > 0) {
        this.append(buildL2Table(this.g, this.openBits, this.hostClusters - this.openCount));
        this.openBits.fill(0);
        this.openCount = 0;
      }
      this.openRegion++;
    }
  }

  // --- output --------------------------------------------------------------

  private append(buf: Buffer): void {
    this.batch.push(buf);
    this.batchBytes += buf.length;
    this.hostClusters += buf.length / this.g.clusterSize;
  }

  private async appendAndMaybeFlush(buf: Buffer): Promise<void> {
    this.append(buf);
    if (this.batchFull()) await this.flush();
  }

  private batchFull(): boolean {
    return this.batchBytes >= BATCH_MAX_BYTES || this.batch.length >= BATCH_MAX_BUFFERS;
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) {
      this.recordPoint();
      return;
    }
    const buffers = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    let written = 0;
    while (written < bytes) {
      const rest = written === 0 ? buffers : remainingBuffers(buffers, written);
      const { bytesWritten } = await this.out.writev(rest, this.writtenLength + written);
      if (bytesWritten <= 0) throw new Error(`qcow2 writer: no progress writing at offset ${this.writtenLength + written}`);
      written += bytesWritten;
    }
    this.writtenLength += bytes;
    this.recordPoint();
  }

  // --- checkpoint state ----------------------------------------------------

  /** Where the writer stands now; valid right after a flush (nothing batched). */
  private currentPoint(): DurablePoint {
    const pendingPart = this.position === this.g.virtualSize ? 0 : this.position % this.g.clusterSize;
    return { resumeOffset: this.position - pendingPart, fileLength: this.writtenLength, closedRegions: this.openRegion, openBits: this.openBits };
  }

  /**
   * Keeps the current point for an output that makes only a prefix durable, and
   * forgets those before the newest durable one. A point per flush that grew the
   * file; they cover only what is not yet durable (an upload's part buffer), at
   * most clusterSize/8 bits each per cluster appended: window/64 bytes.
   */
  private recordPoint(): void {
    if (!this.out.durableLength || this.finishing) return;
    const point = { ...this.currentPoint(), openBits: Uint8Array.from(this.openBits) };
    const last = this.points[this.points.length - 1];
    if (last && last.fileLength === point.fileLength) this.points[this.points.length - 1] = point;
    else this.points.push(point);
    this.prunePoints(this.out.durableLength());
  }

  private prunePoints(durable: number): void {
    let newestDurable = 0;
    while (newestDurable + 1 < this.points.length && this.points[newestDurable + 1]!.fileLength <= durable) newestDurable++;
    if (newestDurable > 0) this.points.splice(0, newestDurable);
  }

  private describe(point: DurablePoint): Qcow2WriterState {
    const base = {
      format: QCOW2_STATE_FORMAT,
      virtualSize: this.g.virtualSize,
      clusterBits: this.g.clusterBits,
      headClusters: this.headClusters,
      resumeOffset: point.resumeOffset,
      fileLength: point.fileLength,
      closedRegions: point.closedRegions,
      open: encodeBitmap(point.openBits, this.g.l2Entries),
    } as const;
    // Counts of regions closed before the point have not changed since: a closed region's count is final.
    const exact: Qcow2WriterState = { ...base, closedEncoding: 'counts', closed: encodeRegionCounts(this.regionCounts, point.closedRegions) };
    if (JSON.stringify(exact).length <= this.compactStateBytes) return exact;
    const bits = presenceBitmap(this.regionCounts, point.closedRegions);
    return { ...base, closedEncoding: 'presence', closed: encodeBitmap(bits, point.closedRegions) };
  }

  private async restore(state: Qcow2WriterState): Promise<void> {
    const g = this.g;
    const cs = g.clusterSize;
    const bad = (what: string) => new Qcow2WriterError('bad-state', `checkpoint state: ${what}`);
    if (state.resumeOffset > g.virtualSize || (state.resumeOffset % cs !== 0 && state.resumeOffset !== g.virtualSize)) {
      throw bad(`resumeOffset ${state.resumeOffset} is neither cluster-aligned nor the virtual size ${g.virtualSize}`);
    }
    if (state.fileLength % cs !== 0 || state.fileLength < state.headClusters * cs) {
      throw bad(`fileLength ${state.fileLength} is not a whole number of ${cs}-byte clusters at least the head's ${state.headClusters}`);
    }
    const resumeRegion = Math.floor(Math.min(state.resumeOffset, Math.max(0, g.virtualSize - 1)) / g.regionBytes);
    if (state.closedRegions > resumeRegion) throw bad(`closedRegions ${state.closedRegions} is past the region of resumeOffset (${resumeRegion})`);
    const { size } = await this.out.stat();
    if (size < state.fileLength) {
      throw new Qcow2WriterError('file-too-short', `resume: the file has ${size} bytes, the checkpoint says ${state.fileLength} were durable`);
    }

    const open = decodeBitmap(state.open, g.l2Entries, 'open');
    this.openBits.set(open);
    this.openCount = popcount(open);
    const firstClusterOfOpen = state.closedRegions * g.l2Entries;
    const resumeCluster = Math.ceil(state.resumeOffset / cs);
    for (let j = Math.max(0, resumeCluster - firstClusterOfOpen); j < g.l2Entries; j++) {
      if ((open[j >> 3]! & (1 << (j & 7))) !== 0) throw bad(`the open region marks cluster ${firstClusterOfOpen + j} allocated, at or past resumeOffset`);
    }
    const fileClusters = state.fileLength / cs;
    if (state.closedEncoding === 'counts') {
      decodeRegionCounts(state.closed, state.closedRegions, g.l2Entries, this.regionCounts);
    } else {
      const present = decodeBitmap(state.closed, state.closedRegions, 'closed');
      this.regionCounts.set(await recoverRegionCounts(this.out, g, present, state.closedRegions, fileClusters - this.openCount, state.headClusters));
    }
    let clusters = state.headClusters + this.openCount;
    for (let k = 0; k < state.closedRegions; k++) {
      const n = this.regionCounts[k]!;
      clusters += n > 0 ? n + 1 : 0;
    }
    if (clusters !== fileClusters) throw bad(`the regions account for ${clusters} clusters, fileLength for ${fileClusters}`);
    // Only now that the state is known to fit the file: what was written after the checkpoint goes.
    await this.out.truncate(state.fileLength);
    await this.clearStaleHeader();
    this.position = state.resumeOffset;
    this.openRegion = state.closedRegions;
    this.hostClusters = fileClusters;
    this.writtenLength = state.fileLength;
  }

  /**
   * A kill after finish() wrote the header but before the caller recorded it leaves
   * a header that points at tables the truncation just cut: zero it, so that until
   * the next finish() the file is again plainly not an image (not a corrupt one).
   */
  private async clearStaleHeader(): Promise<void> {
    const head = Buffer.alloc(4);
    const { bytesRead } = await this.out.read(head, 0, 4, 0);
    if (bytesRead === 4 && !head.equals(Buffer.alloc(4))) await writeAll(this.out, this.zeroCluster, 0);
  }

  // --- call discipline -----------------------------------------------------

  private async run<T>(call: string, offset: number | undefined, length: number, body: () => Promise<T>): Promise<T> {
    if (this.closedReason) throw new Qcow2WriterError('finished', `${call}: ${this.closedReason}`);
    if (this.busy) throw new Qcow2WriterError('busy', `${call}: another call is still running (await each call before the next)`);
    if (offset !== undefined) this.checkExtent(call, offset, length);
    this.busy = true;
    try {
      return await body();
    } catch (err) {
      // The file and this object may now disagree: only resume() from the last checkpoint can go on.
      this.closedReason = `an earlier ${call} failed (${err instanceof Error ? err.message : String(err)}); resume from the last checkpoint`;
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private checkExtent(call: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new Qcow2WriterError('out-of-order', `${call}: offset ${offset} / length ${length} are not non-negative integers`);
    }
    if (offset < this.position) {
      throw new Qcow2WriterError('out-of-order', `${call}: extent at offset ${offset} starts before ${this.position}, the end of what was already received (extents must come in increasing offset order)`);
    }
    if (offset + length > this.g.virtualSize) {
      throw new Qcow2WriterError('beyond-virtual-size', `${call}: extent [${offset}, ${offset + length}) ends past the virtual size ${this.g.virtualSize}`);
    }
  }
}

function checkedGeometry(virtualSize: number, clusterBits: number): Qcow2Geometry {
  if (!Number.isInteger(clusterBits) || clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new Qcow2WriterError('bad-option', `clusterBits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  if (!Number.isSafeInteger(virtualSize) || virtualSize < 0 || virtualSize > 2 ** 52) {
    throw new Qcow2WriterError('bad-option', `virtualSize ${virtualSize} is not an integer in 0..2^52`);
  }
  if (virtualSize % SECTOR !== 0) {
    // qemu counts a qcow2's size in whole 512-byte sectors and would silently drop the tail.
    throw new Qcow2WriterError('bad-option', `virtualSize ${virtualSize} is not a multiple of ${SECTOR}`);
  }
  const g = qcow2Geometry(virtualSize, clusterBits);
  const worst = worstCaseStateBytes(g.l1Size, g.l2Entries);
  if (worst > MAX_STATE_BYTES) {
    throw new Qcow2WriterError(
      'bad-option',
      `a ${virtualSize}-byte disk at ${g.clusterSize}-byte clusters may need a ${worst}-character checkpoint, over the ${MAX_STATE_BYTES} allowed: use larger clusters`,
    );
  }
  return g;
}

function remainingBuffers(buffers: Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = [];
  let left = skip;
  for (const b of buffers) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    rest.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return rest;
}

async function writeAll(out: Qcow2Output, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await out.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`qcow2 writer: no progress writing at offset ${position + done}`);
    done += bytesWritten;
  }
}
