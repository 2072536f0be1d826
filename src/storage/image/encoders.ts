// Where decoded guest bytes go: a qcow2 image written by the one-pass writer
// (formats/qcow2) on an ImageFile; a sparse raw image written by offset in a
// local file (storage/raw: every all-zero 4 KiB block a hole); or, where the
// sink cannot seek (S3), a raw image written as one stream through the sink's
// ordinary disk writer, the zeros included. A fixed VHD is either raw image with
// a trailer: its 512-byte footer, made when the image is finished and written
// once, after the disk's last byte.
import { hashAcrossBoundaries, loadWasmSha256, NodeSha256, WasmSha256 } from '../../core/resumable-sha256.js';
import { DEFAULT_CLUSTER_BITS, fullImageHeader, MAX_STATE_BYTES, qcow2Geometry, Qcow2Writer, type Qcow2WriterState } from '../../formats/qcow2/index.js';
import { PredictedHashImageFile } from './predicted-hash.js';
import { RawSparseWriter, type RawSparseState } from '../raw/raw-sparse-writer.js';
import type { FileHandle } from 'node:fs/promises';
import type { DiskWriter, FinishedFile, ImageFile, OutputSink, WriterState } from '../sink.js';

export interface EncoderCheckpoint {
  /** Guest bytes before this offset are durable and need not be sent again. */
  offset: number;
  qcow2?: Qcow2WriterState;
  raw?: RawSparseState;
  stream?: RawStreamState;
  file?: ReturnType<ImageFile['state']>;
}

/** Takes guest extents in increasing offset order; bytes never given are zeros. */
export interface ImageEncoder {
  write(offset: number, data: Buffer): Promise<void>;
  /** Makes what it can durable; undefined when nothing of it could be resumed. */
  checkpoint(): Promise<EncoderCheckpoint | undefined>;
  /** Completes the image to its virtual size and publishes it, with its SHA-256. */
  finish(): Promise<FinishedFile & { sha256: string }>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * On an output that makes whole parts durable (S3), how far input may run past
 * the resume point before the writer stores zero clusters to complete the part
 * that holds it back: 16 parts, at least 256 MiB. A kill then costs at most that
 * much re-reading, and the stored zeros are at most 1/16 of a long zero run.
 */
const LAG_PARTS = 16;
const MIN_LAG_BYTES = 256 * 1024 * 1024;

export class Qcow2Encoder implements ImageEncoder {
  /** Guest offset of the last checkpoint's resume point. */
  private durableOffset = 0;
  /** Zero clusters were asked for since the resume point last moved. */
  private completingPart = false;

  constructor(
    private readonly file: ImageFile,
    private readonly writer: Qcow2Writer,
    /** The one-pass hash of a fully allocated image, while that is what this one is. */
    private predicted?: PredictedHashImageFile,
  ) {
    this.durableOffset = writer.receivedOffset;
  }

  /**
   * An upload cannot read its parts back, so its checkpoints keep per-region
   * counts up to the largest state (which a heartbeat still carries) instead of
   * falling back to the one-bit form that resume re-reads from the file.
   */
  private static options(file: ImageFile) {
    return file.randomAccess ? {} : { compactStateBytes: MAX_STATE_BYTES };
  }

  static async create(file: ImageFile, virtualSize: number, headBytes: number): Promise<Qcow2Encoder> {
    // Hashed as written when every cluster turns out to hold data (predicted-hash.ts).
    const g = qcow2Geometry(virtualSize, DEFAULT_CLUSTER_BITS);
    const headClusters = Math.max(1, Math.ceil(headBytes / g.clusterSize));
    const head = Buffer.alloc(headClusters * g.clusterSize);
    fullImageHeader(g, headClusters).copy(head);
    const hashing = new PredictedHashImageFile(file, head);
    return new Qcow2Encoder(hashing, await Qcow2Writer.create(hashing, { virtualSize, headBytes, ...Qcow2Encoder.options(file) }), hashing);
  }

  static async resume(file: ImageFile, state: unknown): Promise<Qcow2Encoder> {
    return new Qcow2Encoder(file, await Qcow2Writer.resume(file, state, Qcow2Encoder.options(file)));
  }

  /** Where input must continue after a resume (a partly received cluster is sent again). */
  get resumeOffset(): number {
    return this.writer.receivedOffset;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    await this.writer.write(offset, data);
    if (this.predicted && !this.writer.everyClusterStored) {
      // A thin disk: it will be read back at the end, so stop hashing now.
      this.predicted.giveUp();
      this.predicted = undefined;
    }
    const part = this.file.durableGranularity;
    if (part === undefined) return;
    // A long zero run appends nothing, so the bytes waiting for the next part
    // (and the resume point before them) would stay behind: complete that part.
    if (!this.completingPart && this.writer.receivedOffset - this.durableOffset > Math.max(LAG_PARTS * part, MIN_LAG_BYTES)) {
      this.completingPart = true;
      this.writer.storeZeroClusters(Math.ceil(part / this.writer.clusterSize) + 1);
    }
  }

  async checkpoint(): Promise<EncoderCheckpoint> {
    const qcow2 = await this.writer.checkpoint();
    if (qcow2.resumeOffset > this.durableOffset) {
      this.durableOffset = qcow2.resumeOffset;
      this.completingPart = false;
    }
    return { offset: qcow2.resumeOffset, qcow2, file: this.file.state() };
  }

  async finish(): Promise<FinishedFile & { sha256: string }> {
    await this.writer.finish();
    const done = await this.file.finish();
    // The header is written last at offset 0: the file can only be hashed once whole.
    const sha256 = await this.file.sha256();
    return { ...done, sha256, state: this.file.state() };
  }

  close(): Promise<void> {
    return this.file.close();
  }

  abort(): Promise<void> {
    return this.file.abort();
  }
}

const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * What follows the disk's bytes in the file (a fixed VHD's footer): its length is
 * known when the writer opens, its bytes are made at finish.
 */
export interface ImageTrailer {
  bytes: number;
  make(): Buffer;
}

function trailerBytes(trailer: ImageTrailer | undefined): Buffer | undefined {
  if (!trailer) return undefined;
  const bytes = trailer.make();
  if (bytes.length !== trailer.bytes) throw new Error(`the image's trailer is ${bytes.length} bytes, ${trailer.bytes} were announced`);
  return bytes;
}

/** What a raw image sent as one stream resumes from, beside its writer's own state: the hash of the bytes before the offset. */
export interface RawStreamState {
  /** hash-wasm's SHA-256 state (base64) at the checkpoint's offset. */
  hashState: string;
}

/**
 * A raw image as one stream (S3): gaps become zero chunks (the local writer leaves
 * them as holes). It resumes where its writer does: the writer's durable points
 * are whole parts, so the hash state is saved at every part boundary the stream
 * crosses, and a checkpoint carries the one at the writer's durable offset (hash-wasm:
 * Node's SHA-256 cannot save its state). A stream that cannot resume anyway (decoded
 * on the fly) hashes with Node's SHA-256, about 9× as fast here (docs/PERFORMANCE.md).
 */
export class SequentialRawEncoder implements ImageEncoder {
  /** Hash states at the writer's commit boundaries past its last checkpoint, by offset. */
  private readonly snapshots = new Map<number, string>();

  private constructor(
    private readonly out: DiskWriter,
    private readonly virtualSize: number,
    private readonly trailer: ImageTrailer | undefined,
    private readonly hash: WasmSha256 | NodeSha256,
    private position: number,
  ) {}

  /** The hash's state to save, where it has one. */
  private hashState(): string | undefined {
    return this.hash instanceof WasmSha256 ? this.hash.state() : undefined;
  }

  private static size(virtualSize: number, trailer: ImageTrailer | undefined): number {
    return virtualSize + (trailer?.bytes ?? 0);
  }

  /** `resumable` false: no checkpoint will be asked for, so the hash need not be saveable. */
  static async create(sink: OutputSink, name: string, virtualSize: number, stage: boolean, trailer?: ImageTrailer, resumable = true): Promise<SequentialRawEncoder> {
    // Opened without a checkpoint: a new file (or upload) from byte 0.
    const out = await sink.openDiskWriter(name, { sizeBytes: SequentialRawEncoder.size(virtualSize, trailer), stage });
    return new SequentialRawEncoder(out, virtualSize, trailer, resumable ? await WasmSha256.create() : new NodeSha256(), 0);
  }

  /**
   * Continues the stream its writer's checkpoint describes, or starts it over in
   * the same writer where that cannot be done (the upload is gone, the checkpoint
   * has the trailer in it already, its hash state does not load): the writer drops
   * what it had, so no second upload is left behind.
   */
  static async resume(
    sink: OutputSink,
    name: string,
    virtualSize: number,
    stage: boolean,
    trailer: ImageTrailer | undefined,
    cp: { offset: number; file: WriterState; stream: RawStreamState },
  ): Promise<SequentialRawEncoder> {
    const out = await sink.openDiskWriter(name, { sizeBytes: SequentialRawEncoder.size(virtualSize, trailer), stage, checkpoint: { offset: cp.offset, sink: cp.file } });
    try {
      const hash = out.resumeOffset === cp.offset && cp.offset > 0 && cp.offset <= virtualSize ? await loadWasmSha256(cp.stream.hashState) : undefined;
      if (hash) return new SequentialRawEncoder(out, virtualSize, trailer, hash, cp.offset);
      if (out.resumeOffset > 0) await out.reset();
      return new SequentialRawEncoder(out, virtualSize, trailer, await WasmSha256.create(), 0);
    } catch (err) {
      await out.close().catch(() => undefined);
      throw err;
    }
  }

  /** Where input must continue. */
  get resumeOffset(): number {
    return this.position;
  }

  /** Hashes `chunk`, saving the state at each of the writer's commit boundaries it crosses, then writes it. */
  private async put(chunk: Buffer): Promise<void> {
    const saveable = this.hash instanceof WasmSha256 ? this.hash : undefined;
    hashAcrossBoundaries(this.hash, chunk, this.position, saveable ? this.out.commitGranularity : 0, (at) => {
      if (saveable) this.snapshots.set(at, saveable.state());
    });
    await this.out.write(chunk);
    this.position += chunk.length;
  }

  private async zerosTo(offset: number): Promise<void> {
    while (this.position < offset) await this.put(ZEROS.subarray(0, Math.min(ZEROS.length, offset - this.position)));
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (offset < this.position) throw new Error(`raw image: extent at ${offset} is before ${this.position}`);
    if (offset + data.length > this.virtualSize) throw new Error(`raw image: extent at ${offset} runs past the disk's ${this.virtualSize} bytes`);
    await this.zerosTo(offset);
    await this.put(data);
  }

  /** What the writer made durable, with the hash state at that offset; undefined while nothing is. */
  async checkpoint(): Promise<EncoderCheckpoint | undefined> {
    const { offset, state } = await this.out.commit();
    const hashState = offset === this.position ? this.hashState() : this.snapshots.get(offset);
    for (const k of this.snapshots.keys()) if (k < offset) this.snapshots.delete(k);
    if (offset === 0 || hashState === undefined) return undefined;
    return { offset, stream: { hashState }, file: state };
  }

  async finish(): Promise<FinishedFile & { sha256: string }> {
    await this.zerosTo(this.virtualSize);
    const trailer = trailerBytes(this.trailer);
    if (trailer) await this.put(trailer);
    await this.out.flush();
    const { state } = await this.out.commit();
    const done = await this.out.finish();
    return { ...done, sha256: this.hash.digestHex(), state };
  }

  close(): Promise<void> {
    return this.out.close();
  }

  abort(): Promise<void> {
    return this.out.abort();
  }
}

/**
 * A raw image in a local file: data written at its offsets, zeros never written
 * (holes), hashed as it goes; a trailer, if any, written and hashed after the disk
 * at finish (a resume cuts the file back to the disk, so it is never written twice).
 */
export class SparseRawEncoder implements ImageEncoder {
  private constructor(
    private readonly file: ImageFile,
    private readonly writer: RawSparseWriter,
    private readonly trailer: ImageTrailer | undefined,
    /** O_DIRECT handle for the aligned data, where the file offers one: buffered, the kernel's copy into the page cache and its writeback cost ≈3 s of system CPU per GiB (direct-io.ts). */
    private readonly direct: FileHandle | undefined,
  ) {}

  static async create(file: LocalRawFile, virtualSize: number, trailer?: ImageTrailer): Promise<SparseRawEncoder> {
    const direct = await file.openDirect?.();
    try {
      return new SparseRawEncoder(file, await RawSparseWriter.create(file.handle, { sizeBytes: virtualSize, ...(direct ? { direct } : {}) }), trailer, direct);
    } catch (err) {
      await direct?.close().catch(() => undefined);
      throw err;
    }
  }

  /** Continues from a checkpoint: the file keeps its first `offset` bytes (re-read once for the hash), the rest is cut. */
  static async resume(file: LocalRawFile, state: RawSparseState, virtualSize: number, trailer?: ImageTrailer): Promise<SparseRawEncoder> {
    const direct = await file.openDirect?.();
    try {
      return new SparseRawEncoder(file, await RawSparseWriter.resume(file.handle, state, { sizeBytes: virtualSize, ...(direct ? { direct } : {}) }), trailer, direct);
    } catch (err) {
      await direct?.close().catch(() => undefined);
      throw err;
    }
  }

  /** Where input must continue after a resume. */
  get resumeOffset(): number {
    return this.writer.offset;
  }

  write(offset: number, data: Buffer): Promise<void> {
    return this.writer.write(offset, data);
  }

  /** Syncs the file and says how far it holds the disk (a decoded stream's caller ignores it: a stream restarts from its first byte). */
  async checkpoint(): Promise<EncoderCheckpoint> {
    const raw = await this.writer.checkpoint();
    return { offset: raw.offset, raw, file: this.file.state() };
  }

  async finish(): Promise<FinishedFile & { sha256: string }> {
    const { sha256 } = await this.writer.finish(trailerBytes(this.trailer));
    await this.closeDirect();
    return { ...(await this.file.finish()), sha256 };
  }

  async close(): Promise<void> {
    await this.closeDirect();
    return this.file.close();
  }

  async abort(): Promise<void> {
    await this.closeDirect();
    return this.file.abort();
  }

  private closeDirect(): Promise<void> {
    return this.direct?.close().catch(() => undefined) ?? Promise.resolve();
  }
}

/** A local image file: its handle, and a second one with O_DIRECT where the file system has it. */
export type LocalRawFile = ImageFile & { handle: FileHandle; openDirect?: () => Promise<FileHandle | undefined> };
