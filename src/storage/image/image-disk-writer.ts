// A DiskWriter that turns what the source serves into a raw, qcow2 or fixed VHD
// image in the same pass: no staging copy, no conversion afterwards. A fixed VHD
// is the raw image (sparse where the file can seek) followed by its 512-byte
// footer (core/vhd-footer.ts), written once at finish; it resumes exactly as raw
// does, from the sparse raw writer's checkpoint.
//
// The source serves either the disk's own bytes (a datastore flat extent, or a
// lease that serves the flat file) or a streamOptimized VMDK (what a real ESXi
// ExportVm lease serves). `source: 'sniff'` tells them apart by the first bytes:
// 'KDMV' is decoded grain by grain on the fly (formats/vmdk-stream, bounded
// memory); a text VMDK descriptor is refused (a descriptor holds no disk data);
// anything else is taken as the disk's bytes and must be exactly the disk's size.
//
// Resume: from the disk's own bytes into qcow2, the qcow2 writer's checkpoint
// travels in the heartbeat (under 56 KiB) and the next attempt continues at its
// offset with a ranged GET; a raw or vhd image continues from the sparse writer's
// checkpoint (local) or from its upload's and the saved SHA-256 state (S3). A decoded stream cannot be resumed (a lease serves no
// ranges): its checkpoints report progress only, and a retry starts the image over.
//
// Hashing: the file is not the bytes received, so this writer hashes what it
// writes (raw, vhd: the footer included) or reads the finished image back (qcow2, whose header comes last),
// and the engine hashes nothing (hashesOutput).
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';
import type { ImageFormat } from '../../core/export-contract.js';
import { fixedVhdFooter, VHD_FOOTER_SIZE, VHD_OUTPUT_CREATOR } from '../../core/vhd-footer.js';
import { Qcow2WriterError } from '../../formats/qcow2/index.js';
import { decodeStreamOptimized, VmdkStreamError } from '../../formats/vmdk-stream/index.js';
import { descriptorServed, looksLikeTextDescriptor } from './descriptor-guard.js';
import type { DiskWriter, FinishedFile, ImageFile, ImageWriterState, OutputSink, WriterCommit, WriterResumePoint } from '../sink.js';
import type { FileHandle } from 'node:fs/promises';
import { Qcow2Encoder, SequentialRawEncoder, SparseRawEncoder, type ImageEncoder, type ImageTrailer, type RawStreamState } from './encoders.js';
import { PushFeed } from './push-feed.js';
import { isImageNotReadable } from '../s3-image-file.js';
import { RawWriterError } from '../raw/errors.js';
import type { RawSparseState } from '../raw/raw-sparse-writer.js';

export type { ImageFormat };

export interface ImageDiskWriterOptions {
  name: string;
  format: ImageFormat;
  /** The guest disk's size in bytes: the image's virtual size. */
  virtualSize: number;
  /** 'raw': the source serves the disk's bytes; 'sniff': a lease stream, told apart by its first bytes. */
  source: 'raw' | 'sniff';
  stage: boolean;
  checkpoint?: WriterResumePoint;
}

/** Head reserved for the qcow2 header: one cluster locally; S3's smallest part on an upload. */
const LOCAL_HEAD_BYTES = 64 * 1024;
const UPLOAD_HEAD_BYTES = 5 * 1024 * 1024;

type Mode = 'undecided' | 'raw' | 'vmdk-stream';

/** A local image file exposes its handle, for the sparse raw writer's holes and direct writes. */
function hasHandle(file: ImageFile): file is ImageFile & { handle: FileHandle } {
  return typeof (file as { handle?: unknown }).handle === 'object';
}

/** A saved stream state as this version writes it, else undefined (the image starts over). */
function rawStreamState(saved: unknown): RawStreamState | undefined {
  if (typeof saved !== 'object' || saved === null) return undefined;
  const { hashState } = saved as { hashState?: unknown };
  return typeof hashState === 'string' && hashState.length > 0 ? { hashState } : undefined;
}

/** An image writer that also takes the disk as extents with gaps (transfer/extent-transfer.ts). */
export interface ImageDiskWriter extends DiskWriter {
  /**
   * Writes the disk's bytes at `offset`, at or past the end of what came before;
   * the bytes skipped read as zeros in the image. Only for a source of the disk's
   * own bytes (options.source 'raw'); calls are awaited one at a time.
   */
  writeAt(offset: number, data: Buffer): Promise<void>;
}

export async function openImageDiskWriter(sink: OutputSink, options: ImageDiskWriterOptions): Promise<ImageDiskWriter> {
  if (options.format === 'qcow2' && !sink.openImageFile) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `${sink.location} cannot hold a qcow2 image`, nonRetryable: true });
  }
  if (options.format === 'vhd' && (options.virtualSize <= 0 || options.virtualSize % 512 !== 0)) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput,
      message: `${options.name}: a fixed VHD holds whole 512-byte sectors, and this disk is ${options.virtualSize} bytes (${options.virtualSize % 512} past the last whole sector); export it as raw or qcow2`,
      nonRetryable: true,
    });
  }
  const writer = new ImageWriter(sink, options);
  await writer.tryResume(options.checkpoint);
  return writer;
}

class ImageWriter implements ImageDiskWriter {
  readonly prefixHashing = 'reread' as const;
  readonly commitGranularity = 1;
  readonly hashesOutput = true;
  /** Bytes from the disk's own source are done with when write() resolves; a stream's are handed to the decoder. */
  readonly releasesChunks: boolean;
  private mode: Mode = 'undecided';
  private encoder: ImageEncoder | undefined;
  /** Input bytes received (source offset). */
  private position = 0;
  private resumedAt = 0;
  /** Encoder calls run one at a time (a checkpoint may come during a write). */
  private chain: Promise<unknown> = Promise.resolve();
  private feed: PushFeed | undefined;
  private decoding: Promise<void> | undefined;
  private failure: Error | undefined;
  /** Set by writeAt: the input has gaps, and the end of the disk may be one. */
  private extents = false;

  constructor(
    private readonly sink: OutputSink,
    private readonly options: ImageDiskWriterOptions,
  ) {
    this.releasesChunks = options.source === 'raw';
  }

  get name(): string {
    return this.options.name;
  }

  get resumeOffset(): number {
    return this.resumedAt;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Continues an image of the disk's own bytes from its checkpoint: a qcow2
   * anywhere, a sparse raw image in a file that can seek (written from extents:
   * a raw image of a plain byte stream goes through the sink's ordinary writer),
   * a raw or vhd image sent as one stream (S3) from its writer's checkpoint and
   * the hash state saved with it. A decoded stream starts over.
   */
  async tryResume(cp: WriterResumePoint | undefined): Promise<void> {
    const saved = cp?.sink.kind === 'image' ? cp.sink : undefined;
    if (!cp || !saved || saved.format !== this.options.format || saved.encoding !== 'raw') return;
    const stream = this.options.format !== 'qcow2' && !this.sink.imagesSeekable ? rawStreamState(saved.stream) : undefined;
    if (stream !== undefined && saved.file !== undefined) {
      const { name, virtualSize, stage } = this.options;
      const encoder = await SequentialRawEncoder.resume(this.sink, name, virtualSize, stage, this.trailer(), { offset: cp.offset, file: saved.file, stream });
      this.encoder = encoder;
      this.mode = 'raw';
      this.position = this.resumedAt = encoder.resumeOffset;
      return;
    }
    const qcow2 = this.options.format === 'qcow2' ? saved.qcow2 : undefined;
    const raw = this.options.format !== 'qcow2' && this.sink.imagesSeekable ? (saved.raw as RawSparseState | undefined) : undefined;
    if (qcow2 === undefined && raw === undefined) return;
    const file = await this.openFile(saved.file);
    try {
      let encoder: Qcow2Encoder | SparseRawEncoder;
      if (qcow2 !== undefined) encoder = await Qcow2Encoder.resume(file, qcow2);
      else if (hasHandle(file)) encoder = await SparseRawEncoder.resume(file, raw!, this.options.virtualSize, this.trailer());
      else throw new Error(`${this.sink.location}: a seekable image file without a file handle`);
      this.encoder = encoder;
      this.mode = 'raw';
      this.position = this.resumedAt = encoder.resumeOffset;
    } catch (err) {
      // A checkpoint the file no longer matches, or an upload that cannot be read
      // back for it: a new image (the open truncated nothing yet).
      await file.close();
      if (!(err instanceof Qcow2WriterError) && !(err instanceof RawWriterError) && !isImageNotReadable(err)) throw err;
    }
  }

  /** The qcow2 header's room: one cluster in a file; S3's smallest part in an upload. */
  private get headBytes(): number {
    return this.sink.imagesSeekable ? LOCAL_HEAD_BYTES : UPLOAD_HEAD_BYTES;
  }

  private openFile(resume?: ImageWriterState['file']) {
    if (!this.sink.openImageFile) throw new Error(`${this.sink.location} cannot hold an image written by offset`);
    return this.sink.openImageFile(this.options.name, {
      headBytes: this.headBytes,
      sizeHint: this.options.virtualSize,
      stage: this.options.stage,
      ...(resume ? { resume: resume } : {}),
    });
  }

  /** What follows the disk in the file: a fixed VHD's footer, made when the image is finished. */
  private trailer(): ImageTrailer | undefined {
    if (this.options.format !== 'vhd') return undefined;
    const size = this.options.virtualSize;
    return { bytes: VHD_FOOTER_SIZE, make: () => fixedVhdFooter(size, { creatorApplication: VHD_OUTPUT_CREATOR }) };
  }

  /** `resumable` false: a decoded stream, which restarts from its first byte whatever the encoder could save. */
  private async newEncoder(resumable = true): Promise<ImageEncoder> {
    const { format, virtualSize, stage, name } = this.options;
    // A raw image (a VHD's disk too) in a file that can seek gets holes; anywhere else it is written as one stream, zeros included.
    if (format !== 'qcow2' && !this.sink.imagesSeekable) return SequentialRawEncoder.create(this.sink, name, virtualSize, stage, this.trailer(), resumable);
    const file = await this.openFile();
    try {
      if (format !== 'qcow2') {
        if (!hasHandle(file)) throw new Error(`${this.sink.location}: a seekable image file without a file handle`);
        return await SparseRawEncoder.create(file, virtualSize, this.trailer());
      }
      return await Qcow2Encoder.create(file, virtualSize, this.headBytes);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  async write(chunk: Buffer, release?: () => void): Promise<void> {
    try {
      this.throwIfFailed();
      if (this.mode === 'undecided') this.decide(chunk);
      if (this.mode === 'vmdk-stream') {
        this.position += chunk.length;
        await this.feed!.push(chunk).catch((err: unknown) => {
          throw this.failure ?? err;
        });
        return;
      }
      if (this.position + chunk.length > this.options.virtualSize) {
        throw this.sizeFailure(`the source sent more than the disk's ${this.options.virtualSize} bytes`);
      }
      const at = this.position;
      this.position += chunk.length;
      await this.serial(async () => {
        this.encoder ??= await this.newEncoder();
        await this.encoder.write(at, chunk);
      });
    } catch (err) {
      throw this.classify(err);
    } finally {
      release?.();
    }
  }

  async writeAt(offset: number, data: Buffer): Promise<void> {
    try {
      this.throwIfFailed();
      if (this.options.source !== 'raw') throw new Error(`${this.options.name}: writeAt needs a source of the disk's own bytes`);
      if (offset < this.position) throw new Error(`${this.options.name}: extent at ${offset} starts before ${this.position}, the end of the previous one`);
      if (offset + data.length > this.options.virtualSize) {
        throw this.sizeFailure(`an extent at ${offset} of ${data.length} bytes runs past the disk's ${this.options.virtualSize} bytes`);
      }
      this.mode = 'raw';
      this.extents = true;
      this.position = offset + data.length;
      await this.serial(async () => {
        this.encoder ??= await this.newEncoder();
        await this.encoder.write(offset, data);
      });
    } catch (err) {
      throw this.classify(err);
    }
  }

  private decide(first: Buffer): void {
    if (this.options.source === 'raw' || this.position > 0) {
      this.mode = 'raw';
      return;
    }
    const magic = first.subarray(0, 4).toString('latin1');
    if (magic === 'KDMV') {
      this.mode = 'vmdk-stream';
      this.startDecoding();
      return;
    }
    if (looksLikeTextDescriptor(first)) throw descriptorServed(this.options.name, first.length);
    this.mode = 'raw';
  }

  private startDecoding(): void {
    const feed = new PushFeed();
    this.feed = feed;
    this.decoding = (async () => {
      let sawEnd = false;
      for await (const event of decodeStreamOptimized(feed)) {
        if (event.kind === 'header') {
          if (event.capacityBytes !== this.options.virtualSize) {
            throw this.sizeFailure(`the streamOptimized VMDK's capacity is ${event.capacityBytes} bytes, the disk's ${this.options.virtualSize}`);
          }
          this.encoder = await this.newEncoder(false);
        } else if (event.kind === 'data') {
          await this.encoder!.write(event.offset, event.data);
        } else {
          sawEnd = true;
        }
      }
      if (!sawEnd) throw new Error('the streamOptimized VMDK ended without its end');
    })().catch((err: unknown) => {
      const failure = this.classify(err);
      this.failure ??= failure;
      feed.stop(failure);
    });
  }

  private sizeFailure(message: string): ApplicationFailure {
    return ApplicationFailure.create({ type: ErrorType.SizeMismatch, message: `${this.options.name}: ${message}`, nonRetryable: true });
  }

  /** Decoder and format errors as the workflow's types: bad bytes are final, a cut stream is retried. */
  private classify(err: unknown): Error {
    if (err instanceof ApplicationFailure) return err;
    if (err instanceof VmdkStreamError) {
      return ApplicationFailure.create({
        type: err.retryable ? ErrorType.TransferFailed : ErrorType.SourceNotADisk,
        message: `${this.options.name}: ${err.message}`,
        nonRetryable: !err.retryable,
        cause: err,
      });
    }
    if (err instanceof Qcow2WriterError) {
      return ApplicationFailure.create({ type: ErrorType.InvalidInput, message: `${this.options.name}: qcow2 writer: ${err.message}`, nonRetryable: true, cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  async commit(): Promise<WriterCommit> {
    this.throwIfFailed();
    const { format } = this.options;
    const encoding = this.mode === 'vmdk-stream' ? 'vmdk-stream' : 'raw';
    // Progress only (nothing to resume from): a stream restarts from its first byte.
    if (this.mode !== 'raw' || !this.encoder) return { offset: this.position, state: { kind: 'image', format, encoding } };
    const cp = await this.serial(() => this.encoder!.checkpoint());
    if (!cp) return { offset: this.position, state: { kind: 'image', format, encoding } };
    return {
      offset: cp.offset,
      state: {
        kind: 'image',
        format,
        encoding,
        ...(cp.qcow2 ? { qcow2: cp.qcow2 } : {}),
        ...(cp.raw ? { raw: cp.raw } : {}),
        ...(cp.stream ? { stream: cp.stream } : {}),
        ...(cp.file ? { file: cp.file } : {}),
      },
    };
  }

  async flush(): Promise<void> {
    if (this.mode === 'vmdk-stream') {
      this.feed!.end();
      await this.decoding;
      this.throwIfFailed();
      return;
    }
    await this.chain;
    this.throwIfFailed();
    // Extents leave what follows the last one as zeros: the encoder completes the image.
    if (!this.extents && this.position !== this.options.virtualSize) {
      throw this.classify(this.sizeFailure(`the source sent ${this.position} bytes, the disk has ${this.options.virtualSize}`));
    }
  }

  async finish(): Promise<FinishedFile> {
    // An empty disk never made an encoder: the image is made now.
    const encoder = (this.encoder ??= await this.newEncoder());
    try {
      return await encoder.finish();
    } finally {
      await encoder.close().catch(() => undefined);
    }
  }

  async reset(): Promise<void> {
    await this.stopDecoding();
    await this.chain;
    const encoder = this.encoder;
    this.encoder = undefined;
    await encoder?.close();
    this.mode = 'undecided';
    this.position = 0;
    this.resumedAt = 0;
    this.failure = undefined;
  }

  private async stopDecoding(): Promise<void> {
    const feed = this.feed;
    this.feed = undefined;
    if (!feed) return;
    feed.stop(new Error('the transfer stopped'));
    await this.decoding;
    this.decoding = undefined;
  }

  async close(): Promise<void> {
    await this.stopDecoding().catch(() => undefined);
    await this.chain;
    await this.encoder?.close();
  }

  /** Removes this attempt's image; an earlier attempt's partial goes with the staged copy the activity discards. */
  async abort(): Promise<void> {
    await this.stopDecoding().catch(() => undefined);
    await this.chain;
    const encoder = this.encoder;
    this.encoder = undefined;
    await encoder?.abort();
  }
}
