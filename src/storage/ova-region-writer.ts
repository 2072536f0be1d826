// Writes one disk straight into its place inside an OVA, so an OVA of a 128 GiB
// disk needs no second copy of the data: the OVA partial is created at its final
// size as one sparse file (createOvaPartial), every disk's transfer writes the byte
// range [dataOffset, dataOffset + size) that planOvaLayout (src/formats/ova-layout.ts)
// gave it — several at once, from parallel activities, possibly other processes —
// and finalize writes the tar headers, descriptor, manifest and end blocks around
// them (writeOvaHeaders) and publishes the file.
//
// A region writer is a DiskWriter like the local one (batched-file-writer.ts: 1 MiB
// batches with O_DIRECT, checkpoints with the boot id, all-zero batches left as
// holes), with these differences:
// - It never truncates or extends the shared file and never writes outside its
//   region, except the 512 bytes just before it (its marker, below).
// - finish() renames nothing: it fsyncs, checks the region is exactly full, and
//   returns. abort() removes nothing: the file belongs to the export.
// - It fails (non-retryably) when given more bytes than the region holds, or
//   finished with fewer: the layout was planned for another size.
//
// Stale bytes. The local writer may leave a zero batch unwritten because a
// truncated partial reads as zero past the write position. A region cannot be
// truncated, so after a resume (continuing at the checkpoint, while an earlier
// attempt may have written further) or a reset() (starting again at 0) its bytes
// past the write position may hold what an earlier attempt wrote. Non-zero
// batches overwrite them; a zero batch may only be skipped where the region
// really reads zero. So the writer keeps a high-water mark: before it writes
// anything past the mark, it moves the mark forward (with some headroom, so that
// happens rarely) and makes it durable. Every byte any attempt ever wrote lies
// below the mark; below it a zero batch is read back (direct I/O, no page cache)
// and written only where the region is not already zero; above it zero batches
// are skipped. A fresh attempt on a fresh file reads nothing back. Since finish()
// insists on a complete pass (every byte written, or checked zero, or above the
// mark), no stale byte survives into a published OVA; and eagerly zeroing a
// region on reset() (Node has no FALLOC_FL_PUNCH_HOLE) would allocate every block
// of a thin disk.
//
// The mark lives in the region's marker slot: the 512 bytes before dataOffset,
// which hold the member's ustar header in the finished archive and are written
// only by writeOvaHeaders at the very end. A slot of zeros means no writer ever
// wrote this region (the first commit writes a marker even when everything so far
// was zeros), so a checkpoint that claims bytes there is refused and the transfer
// starts over: the partial was recreated under it. A slot holding anything else
// (a tar header: finalize ran before) means nothing is known: no resume, and
// every zero batch is checked.
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorType } from '../core/errors.js';
import type { OvaLayout, OvaRegion } from '../formats/ova-layout.js';
import { BATCH_BYTES, BatchedFileWriter, isAllZero, resumableOffset, type BatchedFileWriterInit } from './batched-file-writer.js';
import { alignedBuffers, DIRECT_ALIGN, isEinval, openDirect } from './direct-io.js';
import { fsyncDirectory } from './local-disk-writer.js';
import { openOwned, openOwnedOrCreate, sameFile } from './output-directory.js';
import type { DiskWriter, FinishedFile, OpenDiskWriterOptions } from './sink.js';
import { sinkFailure } from './sink-errors.js';

export type { OvaRegion };

export interface OpenOvaRegionOptions extends OpenDiskWriterOptions {
  /** What finish() reports as the file's location (default: the OVA partial's path). */
  uri?: string;
}

const MARKER_BYTES = 512;
const MARKER_MAGIC = 'hypersdk-ova-region v1';
/** The mark moves at least this far past a write, and by an eighth of the offset when further: ~30 syncs for 128 GiB of data. */
const MARK_STEP_MIN = 1024 ** 3;

/** The archive's partial, which this worker's user created (another user's file or a symlink there is refused). */
const openShared = (path: string) => openOwned(path, constants.O_RDWR);

function regionFailure(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.SinkError, message, nonRetryable: true });
}

function checkRegion(region: OvaRegion): void {
  const { dataOffset, sizeBytes } = region;
  if (!Number.isSafeInteger(dataOffset) || !Number.isSafeInteger(sizeBytes) || dataOffset < MARKER_BYTES || dataOffset % 512 !== 0 || sizeBytes < 0) {
    throw regionFailure(`${region.name}: [${dataOffset}, +${sizeBytes}) is not a data region of a tar member`);
  }
}

function nameTag(region: OvaRegion): string {
  return createHash('sha256').update(region.name).digest('hex').slice(0, 16);
}

/** The marker text: which region it belongs to and the mark, sealed with a hash so a torn or foreign slot is not taken for one. */
function encodeMarker(region: OvaRegion, mark: number): Buffer {
  const body = `${MARKER_MAGIC} name=${nameTag(region)} offset=${region.dataOffset} size=${region.sizeBytes} written-below=${mark}`;
  const seal = createHash('sha256').update(body).digest('hex').slice(0, 16);
  const out = Buffer.alloc(MARKER_BYTES);
  out.write(`${body} seal=${seal}\n`, 'latin1');
  return out;
}

type MarkerState = { kind: 'fresh' } | { kind: 'marked'; mark: number } | { kind: 'unknown' };

function decodeMarker(region: OvaRegion, slot: Buffer): MarkerState {
  if (isAllZero(slot)) return { kind: 'fresh' };
  const text = slot.toString('latin1', 0, slot.indexOf(0) < 0 ? slot.length : slot.indexOf(0));
  const m = /^(.*) seal=([0-9a-f]{16})\n$/.exec(text);
  const fields = m ? /^hypersdk-ova-region v1 name=([0-9a-f]{16}) offset=(\d+) size=(\d+) written-below=(\d+)$/.exec(m[1]!) : null;
  if (!m || !fields || createHash('sha256').update(m[1]!).digest('hex').slice(0, 16) !== m[2]) return { kind: 'unknown' };
  const [, tag, offset, size, mark] = fields;
  if (tag !== nameTag(region) || Number(offset) !== region.dataOffset || Number(size) !== region.sizeBytes) return { kind: 'unknown' };
  return { kind: 'marked', mark: Math.min(Number(mark), region.sizeBytes) };
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead <= 0) throw new Error(`read ended at ${position + done}, inside the OVA`);
    done += bytesRead;
  }
}

async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write at ${position + done} wrote nothing`);
    done += bytesWritten;
  }
}

/**
 * Creates the OVA partial at `path` as a sparse file of the archive's exact size,
 * durably. An existing partial of that size is kept (its regions' markers let the
 * transfers resume); one of another size belongs to another layout and is emptied,
 * so every region starts over.
 */
export async function createOvaPartial(path: string, totalSize: number): Promise<void> {
  try {
    const { fh } = await openOwnedOrCreate(path, constants.O_RDWR);
    try {
      if ((await fh.stat()).size !== totalSize) {
        await fh.truncate(0);
        await fh.truncate(totalSize);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDirectory(dirname(path));
  } catch (err) {
    throw sinkFailure(err, `creating ${path}`);
  }
}

/** Opens a writer for `region` of the OVA partial at `path` (created by createOvaPartial). */
export async function openOvaRegionWriter(path: string, region: OvaRegion, options: OpenOvaRegionOptions = {}): Promise<DiskWriter> {
  checkRegion(region);
  let fh: FileHandle;
  try {
    fh = await openShared(path);
  } catch (err) {
    throw sinkFailure(err, `opening ${path}`);
  }
  let direct: FileHandle | undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw regionFailure(`${path} is not a regular file`);
    if (st.size < region.dataOffset + region.sizeBytes) {
      throw regionFailure(`${path} has ${st.size} bytes, too few for ${region.name} at [${region.dataOffset}, +${region.sizeBytes}): not created for this layout`);
    }
    direct = await openDirect(path, true);
    if (direct && !(await sameFile(fh, direct))) {
      await direct.close();
      direct = undefined;
    }
    const slot = Buffer.alloc(MARKER_BYTES);
    await readFully(fh, slot, region.dataOffset - MARKER_BYTES);
    const marker = decodeMarker(region, slot);
    const { offset: wanted, durable } = resumableOffset(options.checkpoint);
    // With direct writes, resume on a 4 KiB boundary of the file so every later batch stays aligned.
    const align = direct && region.dataOffset % DIRECT_ALIGN === 0 ? DIRECT_ALIGN : 1;
    const resumeOffset = marker.kind === 'marked' && wanted > 0 && wanted <= region.sizeBytes ? wanted - (wanted % align) : 0;
    const mark = marker.kind === 'fresh' ? 0 : marker.kind === 'marked' ? marker.mark : region.sizeBytes;
    return new OvaRegionWriter(
      region,
      options.uri ?? path,
      { name: region.name, path, fh, direct, base: region.dataOffset, resumeOffset, durable: Math.min(durable, resumeOffset), sparse: true },
      mark,
      marker.kind === 'marked',
    );
  } catch (err) {
    await direct?.close().catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw sinkFailure(err, `preparing ${region.name} in ${path}`);
  }
}

class OvaRegionWriter extends BatchedFileWriter {
  /** Bytes below this offset may have been written by some attempt; persisted in the marker slot when `markPersisted`. */
  private mark: number;
  private markPersisted: boolean;
  /** Marker writes, one after the other, each with a mark at least the previous one's. */
  private markChain: Promise<void> = Promise.resolve();
  /** Zero batches below this offset are read back before being skipped. */
  private verifyBelow: number;
  private scratch: Buffer | undefined;

  constructor(
    private readonly region: OvaRegion,
    private readonly uri: string,
    init: BatchedFileWriterInit,
    mark: number,
    markPersisted: boolean,
  ) {
    super(init);
    this.mark = mark;
    this.markPersisted = markPersisted;
    this.verifyBelow = mark;
  }

  override async write(chunk: Buffer, release?: () => void): Promise<void> {
    if (this.written + chunk.length > this.region.sizeBytes) {
      release?.();
      throw regionFailure(`${this.name}: more than the ${this.region.sizeBytes} bytes its place in the OVA holds (the layout was planned for another size)`);
    }
    return super.write(chunk, release);
  }

  protected override async mayLeaveZero(position: number, bytes: number): Promise<boolean> {
    if (position >= this.verifyBelow) return true;
    return this.readsZero(position, Math.min(bytes, this.verifyBelow - position));
  }

  protected override async beforeWrite(position: number, bytes: number): Promise<void> {
    const end = position + bytes;
    if (end <= this.mark && this.markPersisted) return;
    await this.persistMark(Math.min(this.region.sizeBytes, end + Math.max(MARK_STEP_MIN, Math.floor(end / 8))));
  }

  /** A checkpoint may only be reported once the slot says someone wrote here (see the top of this file). */
  protected override async beforeSync(): Promise<void> {
    if (!this.markPersisted) await this.persistMark(this.mark);
  }

  private persistMark(atLeast: number): Promise<void> {
    const next = this.markChain.then(async () => {
      if (this.markPersisted && atLeast <= this.mark) return;
      const mark = Math.max(this.mark, atLeast);
      try {
        await writeFully(this.fh, encodeMarker(this.region, mark), this.region.dataOffset - MARKER_BYTES);
        await this.fh.datasync();
      } catch (err) {
        throw sinkFailure(err, `marking ${this.name} in ${this.path}`);
      }
      this.mark = mark;
      this.markPersisted = true;
    });
    // A failed marker write fails its caller; the chain goes on for the next one.
    this.markChain = next.catch(() => undefined);
    return next;
  }

  /** True when the region's bytes [position, position + bytes) read as zero. */
  private async readsZero(position: number, bytes: number): Promise<boolean> {
    const scratch = await this.scratchBuffer();
    for (let done = 0; done < bytes; ) {
      const n = Math.min(scratch.length, bytes - done);
      const view = scratch.subarray(0, n);
      await this.readRegion(view, position + done);
      if (!isAllZero(view)) return false;
      done += n;
    }
    return true;
  }

  /** Reads with O_DIRECT where aligned (no page cache filled with a thin disk's zeros), else buffered. */
  private async readRegion(view: Buffer, position: number): Promise<void> {
    const at = this.base + position;
    try {
      if (this.direct && at % DIRECT_ALIGN === 0 && view.length % DIRECT_ALIGN === 0) {
        try {
          return await readFully(this.direct, view, at);
        } catch (err) {
          if (!isEinval(err)) throw err;
        }
      }
      await readFully(this.fh, view, at);
    } catch (err) {
      throw sinkFailure(err, `reading back ${this.name} in ${this.path}`);
    }
  }

  private async scratchBuffer(): Promise<Buffer> {
    this.scratch ??= (await this.allocateBuffers(1, BATCH_BYTES))[0] ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
    return this.scratch;
  }

  /**
   * Buffers whose memory the device accepts for direct I/O, found by reading one
   * block at the region's start (never a write: others share the file).
   */
  async allocateBuffers(count: number, bytes: number): Promise<Buffer[]> {
    const usable = this.direct && bytes % DIRECT_ALIGN === 0 && this.base % DIRECT_ALIGN === 0 && this.region.sizeBytes >= DIRECT_ALIGN;
    if (!usable || !this.direct) return Array.from({ length: count }, () => Buffer.allocUnsafeSlow(bytes));
    try {
      return await alignedBuffers(this.direct, this.base, count, bytes, 'read');
    } catch (err) {
      throw sinkFailure(err, `preparing ${this.name} in ${this.path}`);
    }
  }

  /** Starts again at 0; what earlier attempts wrote is overwritten or checked as the new pass goes (see the top). */
  async reset(): Promise<void> {
    await this.rewind();
    await this.markChain;
    this.verifyBelow = Math.max(this.verifyBelow, this.mark);
  }

  async finish(): Promise<FinishedFile> {
    await this.flush();
    if (this.written !== this.region.sizeBytes) {
      throw regionFailure(`${this.name}: ${this.written} bytes for a place of ${this.region.sizeBytes} in the OVA (the layout was planned for another size)`);
    }
    try {
      await this.fh.sync();
      await this.closeHandle();
    } catch (err) {
      throw sinkFailure(err, `syncing ${this.path}`);
    }
    return { name: this.name, uri: this.uri, sizeBytes: this.region.sizeBytes };
  }

  /** Closes; the OVA partial is the export's, removed by its cleanup, so nothing is deleted here. */
  async abort(): Promise<void> {
    await this.close();
  }
}

/**
 * Finalize's part: writes every member's header, the descriptor and the manifest
 * into their places, zeros into every member's tail padding, the two end blocks,
 * and fsyncs. Run it after every region writer finished; then rename the partial
 * to its final name. `descriptor` and `manifest` must have exactly the sizes the
 * layout was planned with.
 */
export async function writeOvaHeaders(path: string, layout: OvaLayout, contents: { descriptor: Buffer | string; manifest: Buffer | string }): Promise<void> {
  const descriptor = Buffer.from(contents.descriptor);
  const manifest = Buffer.from(contents.manifest);
  for (const [m, bytes] of [
    [layout.descriptor, descriptor],
    [layout.manifest, manifest],
  ] as const) {
    if (bytes.length !== m.sizeBytes) throw regionFailure(`${m.name} has ${bytes.length} bytes, but the OVA layout was planned with ${m.sizeBytes}`);
  }
  let fh: FileHandle;
  try {
    fh = await openShared(path);
  } catch (err) {
    throw sinkFailure(err, `opening ${path}`);
  }
  try {
    const { size } = await fh.stat();
    if (size !== layout.totalSize) throw regionFailure(`${path} has ${size} bytes, the OVA layout ${layout.totalSize}`);
    for (const m of layout.members) {
      await writeFully(fh, m.header, m.headerOffset);
      if (m.kind === 'descriptor') await writeFully(fh, descriptor, m.dataOffset);
      if (m.kind === 'manifest') await writeFully(fh, manifest, m.dataOffset);
      const dataEnd = m.dataOffset + m.sizeBytes;
      if (m.endOffset > dataEnd) await writeFully(fh, Buffer.alloc(m.endOffset - dataEnd), dataEnd);
    }
    await writeFully(fh, Buffer.alloc(layout.totalSize - layout.endBlocksOffset), layout.endBlocksOffset);
    await fh.sync();
  } catch (err) {
    throw sinkFailure(err, `writing the tar headers of ${path}`);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
