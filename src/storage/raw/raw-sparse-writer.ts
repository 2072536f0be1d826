// A sparse raw disk image written in one forward pass from ordered extents.
//
// Input: the virtual disk size, then extents in increasing guest offset (bytes at
// an offset) and ranges the source declares unallocated. Bytes never given are
// zeros. Output: a file of exactly the virtual size whose all-zero blocks are holes
// (never written, so never allocated), and the SHA-256 of the whole image, zeros
// included, computed while writing.
//
// Why holes are safe: the file is truncated to the write position and extended to
// the virtual size before the first write (create: position 0; resume: the
// checkpoint's offset), so every byte at or past the position reads as zero; and
// writes only land at or past the position, which only grows. Skipping a zero
// block therefore leaves exactly the zeros it held. This is also what makes a
// resume overwrite whatever an earlier attempt wrote past its checkpoint.
//
// A trailer (a fixed VHD's footer) may follow the disk: finish() writes it after
// the last byte of the disk and hashes it last. Until then the file is exactly the
// disk's size, and a resume cuts it back to that size, so a trailer an earlier
// attempt wrote is never left in the middle, nor written twice.
//
// Resume after kill -9: checkpoint() fdatasyncs and returns a small JSON state
// (offset, size, and with 'saved-state' hashing the hash-wasm state: 273 bytes of
// JSON for a 1 TiB disk) whatever the disk size. resume() continues from that offset.
//
// Hashing, the largest CPU cost (measured on this 2-core machine, 1 MiB updates):
// Node's crypto ~1600 MiB/s, hash-wasm ~385 MiB/s. Holes are hashed as zeros from
// one shared zero block, so a mostly empty disk costs hashing time, not I/O time.
// - 'reread-prefix' (default): Node's crypto; a resume re-reads and re-hashes the
//   file's first `offset` bytes (holes read back as zeros, without device I/O).
//   256 MiB in 1 MiB extents, finish included: ~600-900 MiB/s fully allocated
//   (at least plain writes + hash), ~1000-1500 MiB/s mostly zeros
//   (raw-sparse-writer.bench.ts; a busy machine, so ranges).
// - 'saved-state': hash-wasm, whose state travels in the checkpoint, so a resume
//   needs nothing from the file; but ~250 MiB/s in the same bench. For outputs
//   whose prefix cannot be read back; a local raw file always can.
//
// Writes: buffered, or block-aligned data with O_DIRECT when the caller passes a
// second handle opened with it (run-writer.ts).
//
// Memory: one shared 1 MiB zero block, on a 'reread-prefix' resume one 1 MiB read
// buffer, and with direct I/O two 1 MiB aligned staging buffers; buffered writes
// go from the caller's own buffers (no copy).
//
// Concurrency: calls may overlap (e.g. a heartbeat timer calling checkpoint()
// during a write); they run one at a time in call order. Long zero ranges are
// hashed in slices that yield to the event loop, so a checkpoint is never held up
// by more than one slice.
import type { FileHandle } from 'node:fs/promises';
import { NodeSha256, WasmSha256, type ResumableSha256 } from '../../core/resumable-sha256.js';
import { RawWriterError } from './errors.js';
import { RunWriter, writeFully } from './run-writer.js';
import { nonZeroRuns, ZERO_CHUNK_BYTES, ZEROS } from './zero-blocks.js';

export type RawHashing = 'saved-state' | 'reread-prefix';

/** Plain JSON: what a heartbeat carries and resume() takes back. */
export interface RawSparseState {
  format: 'raw-sparse';
  version: 1;
  /** Virtual disk size: the file's length. */
  sizeBytes: number;
  /** Every byte before this guest offset is in the file and durable (fdatasync'ed), and hashed into the state. */
  offset: number;
  hashing: RawHashing;
  /** hash-wasm SHA-256 state at `offset`, base64; only with hashing 'saved-state'. */
  sha256State?: string;
}

export interface RawSparseCreateOptions {
  sizeBytes: number;
  /** Default 'reread-prefix' (2.5-5× faster; see the header). */
  hashing?: RawHashing;
  /** Zero-detection granularity; default the file system's block size (st_blksize), else 4096. */
  blockSize?: number;
  /**
   * A second handle on the same file opened with O_DIRECT (storage/direct-io.ts
   * openDirect): block-aligned data then goes straight to the device (run-writer.ts).
   * The caller closes it after finish().
   */
  direct?: FileHandle;
}

export interface RawSparseResumeOptions {
  blockSize?: number;
  direct?: FileHandle;
  /** The disk size the caller expects; a state of another size is refused (InvalidState). */
  sizeBytes?: number;
}

export interface RawSparseResult {
  /** Hex SHA-256 of the whole image (what `sha256sum` of the file prints), across resumes. */
  sha256: string;
  sizeBytes: number;
  /** Data bytes this attempt wrote (the rest of what it covered were holes). */
  bytesWritten: number;
  /** Guest offset this attempt started from (0 unless resumed). */
  resumedFromOffset: number;
}

const DEFAULT_BLOCK = 4096;
/** Zeros hashed between yields to the event loop: ~40 ms with hash-wasm, ~10 ms with Node's crypto. */
const ZERO_SLICE_BYTES = 16 * 1024 * 1024;
/** Read size when re-hashing the prefix on a 'reread-prefix' resume. */
const REREAD_BYTES = 1024 * 1024;

export class RawSparseWriter {
  private position: number;
  private syncedAt: number;
  private bytesWritten = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set when a write failed (the hash then ran ahead of the file) or after finish(). */
  private unusable: RawWriterError | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly runs: RunWriter,
    readonly sizeBytes: number,
    private readonly hashing: RawHashing,
    private readonly hasher: ResumableSha256,
    private readonly blockSize: number,
    private readonly resumedFromOffset: number,
  ) {
    this.position = resumedFromOffset;
    this.syncedAt = resumedFromOffset;
  }

  /** Starts a new image in `fh` (opened for writing; any previous content is dropped). */
  static async create(fh: FileHandle, options: RawSparseCreateOptions): Promise<RawSparseWriter> {
    const sizeBytes = requireNonNegativeInteger(options.sizeBytes, 'sizeBytes');
    const hashing = options.hashing ?? 'reread-prefix';
    const hasher = hashing === 'saved-state' ? await WasmSha256.create() : new NodeSha256();
    const blockSize = await chooseBlockSize(fh, options.blockSize);
    await fh.truncate(0);
    const runs = await RunWriter.open(fh, options.direct, 0);
    await fh.truncate(0); // the alignment probe may have written a block
    await fh.truncate(sizeBytes);
    return new RawSparseWriter(fh, runs, sizeBytes, hashing, hasher, blockSize, 0);
  }

  /** Continues the image in `fh` from a state returned by checkpoint(); bytes past its offset are discarded. */
  static async resume(
    fh: FileHandle,
    state: RawSparseState,
    options: RawSparseResumeOptions = {},
  ): Promise<RawSparseWriter> {
    const valid = validateState(state);
    if (options.sizeBytes !== undefined && options.sizeBytes !== valid.sizeBytes) {
      throw new RawWriterError(
        'InvalidState',
        `resume state: sizeBytes ${valid.sizeBytes} is not the disk's size ${options.sizeBytes}`,
      );
    }
    let hasher: ResumableSha256;
    if (valid.hashing === 'saved-state') {
      try {
        hasher = await WasmSha256.create(valid.sha256State);
      } catch (err) {
        throw new RawWriterError(
          'InvalidState',
          `resume state: sha256State is not a saved SHA-256 state (${(err as Error).message})`,
          { cause: err },
        );
      }
    } else {
      hasher = new NodeSha256();
    }
    const { size } = await fh.stat();
    if (size < valid.offset) {
      throw new RawWriterError(
        'PartialTooShort',
        `resume state: the file holds ${size} bytes but the state says ${valid.offset} are durable; it is not the file of this state`,
      );
    }
    const blockSize = await chooseBlockSize(fh, options.blockSize);
    // The alignment probe writes a block past the durable bytes, which go next.
    const runs = await RunWriter.open(fh, options.direct, valid.offset);
    // Everything an earlier attempt wrote past the durable offset goes: the holes
    // this attempt leaves must read as zeros.
    await fh.truncate(valid.offset);
    await fh.truncate(valid.sizeBytes);
    if (valid.hashing === 'reread-prefix') await rehashPrefix(fh, valid.offset, hasher);
    return new RawSparseWriter(fh, runs, valid.sizeBytes, valid.hashing, hasher, blockSize, valid.offset);
  }

  /** True while block-aligned data goes to the device with O_DIRECT (a `direct` handle the device accepts). */
  get writesDirect(): boolean {
    return this.runs.isDirect;
  }

  /** Guest offset up to which the image has been given (written, skipped or implied zero). */
  get offset(): number {
    return this.position;
  }

  /**
   * The bytes of `data` at guest `offset`, which must not be before the end of the
   * previous extent; a gap before it is zeros. All-zero blocks become holes.
   * Resolves when the bytes are in the file (not yet durable); `data` may be reused then.
   * The extent is hashed in one synchronous step (~0.6 ms per MiB), so extents of a
   * few MiB keep the event loop (heartbeats) responsive.
   */
  async write(offset: number, data: Buffer): Promise<void> {
    this.requireInside(offset, data.length, 'write');
    await this.zerosUpTo(offset, 'write');
    await this.exclusive(async () => {
      this.requireAt(offset, 'write');
      const writes: Promise<void>[] = [];
      let dataBytes = 0;
      for (const [start, end] of nonZeroRuns(data, offset, this.blockSize)) {
        writes.push(this.runs.write(data.subarray(start, end), offset + start));
        dataBytes += end - start;
      }
      // Hash while the writes run on libuv's thread pool.
      this.hasher.update(data);
      const outcomes = await Promise.allSettled(writes);
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) {
        this.unusable = new RawWriterError(
          'Unusable',
          `a write at guest offset ${offset} failed; resume from the last checkpoint`,
          { cause: failed.reason },
        );
        throw failed.reason;
      }
      this.bytesWritten += dataBytes;
      this.position = offset + data.length;
    });
  }

  /** Declares [offset, offset + length) zero or unallocated: hashed as zeros, never written. */
  async skipZeros(offset: number, length: number): Promise<void> {
    this.requireInside(offset, length, 'skipZeros');
    await this.zerosUpTo(offset + length, 'skipZeros', offset);
  }

  /** Makes everything given so far durable and returns the state to resume from. */
  async checkpoint(): Promise<RawSparseState> {
    return this.exclusive(async () => {
      if (this.syncedAt !== this.position) {
        await this.durable();
        this.syncedAt = this.position;
      }
      const hash = this.hasher.checkpoint();
      return {
        format: 'raw-sparse',
        version: 1,
        sizeBytes: this.sizeBytes,
        offset: this.position,
        hashing: this.hashing,
        ...(hash.kind === 'hash-wasm-state' ? { sha256State: hash.state } : {}),
      };
    });
  }

  /**
   * Treats the rest of the disk as zeros, writes `trailer` (if any) right after
   * the disk's last byte, makes the file durable and returns its SHA-256, the
   * trailer included. The handle stays open.
   */
  async finish(trailer?: Buffer): Promise<RawSparseResult> {
    await this.zerosUpTo(this.sizeBytes, 'finish');
    return this.exclusive(async () => {
      if (trailer && trailer.length > 0) {
        try {
          await writeFully(this.fh, trailer, this.sizeBytes);
        } catch (err) {
          this.unusable = new RawWriterError('Unusable', `writing the ${trailer.length}-byte trailer after the disk failed; resume from the last checkpoint`, { cause: err });
          throw err;
        }
        this.hasher.update(trailer);
      }
      await this.durable();
      this.syncedAt = this.position;
      this.unusable = new RawWriterError('Unusable', 'the image is finished; nothing more can be written');
      return {
        sha256: this.hasher.digestHex(),
        sizeBytes: this.sizeBytes,
        bytesWritten: this.bytesWritten,
        resumedFromOffset: this.resumedFromOffset,
      };
    });
  }

  /**
   * fdatasync. A failed one leaves the writer unusable: Linux may drop the dirty
   * pages it could not write and report the next fdatasync clean, so nothing
   * after the last good checkpoint can be trusted.
   */
  private async durable(): Promise<void> {
    try {
      await this.fh.datasync();
    } catch (err) {
      this.unusable = new RawWriterError(
        'Unusable',
        `fdatasync failed at guest offset ${this.position}; resume from the last checkpoint`,
        { cause: err },
      );
      throw err;
    }
  }

  /** Runs `op` after every call made before it has settled. */
  private exclusive<T>(op: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.unusable) throw this.unusable;
      return op();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Hashes zeros from the position to `target` in slices, letting queued calls
   * (checkpoints) and timers in between. `from`, where the caller's range starts,
   * must not be before the position.
   */
  private async zerosUpTo(target: number, call: string, from = target): Promise<void> {
    for (let first = true; ; first = false) {
      const done = await this.exclusive(() => {
        const start = first ? from : target;
        if (this.position > start) {
          throw new RawWriterError(
            'OutOfOrder',
            `${call}: guest offset ${start} is before the end of what was already given (${this.position})`,
          );
        }
        const sliceEnd = Math.min(target, this.position + ZERO_SLICE_BYTES);
        while (this.position < sliceEnd) {
          const n = Math.min(ZERO_CHUNK_BYTES, sliceEnd - this.position);
          this.hasher.update(n === ZERO_CHUNK_BYTES ? ZEROS : ZEROS.subarray(0, n));
          this.position += n;
        }
        return this.position === target;
      });
      if (done) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private requireInside(offset: number, length: number, call: string): void {
    requireNonNegativeInteger(offset, `${call} offset`);
    requireNonNegativeInteger(length, `${call} length`);
    if (offset + length > this.sizeBytes) {
      throw new RawWriterError(
        'OutOfBounds',
        `${call}: bytes [${offset}, ${offset + length}) reach past the disk size ${this.sizeBytes}`,
      );
    }
  }

  private requireAt(offset: number, call: string): void {
    if (this.position !== offset) {
      throw new RawWriterError(
        'OutOfOrder',
        `${call}: guest offset ${offset} is not the current position ${this.position} (extents overlap or came out of order)`,
      );
    }
  }
}

function requireNonNegativeInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RawWriterError('OutOfBounds', `${field} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

async function chooseBlockSize(fh: FileHandle, requested: number | undefined): Promise<number> {
  const candidate = requested ?? (await fh.stat()).blksize;
  const usable =
    Number.isInteger(candidate) &&
    candidate >= 512 &&
    candidate <= ZERO_CHUNK_BYTES &&
    (candidate & (candidate - 1)) === 0;
  if (requested !== undefined && !usable) {
    throw new RawWriterError(
      'OutOfBounds',
      `blockSize must be a power of two from 512 to ${ZERO_CHUNK_BYTES}, got ${requested}`,
    );
  }
  return usable ? candidate : DEFAULT_BLOCK;
}

async function rehashPrefix(fh: FileHandle, length: number, hasher: ResumableSha256): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(REREAD_BYTES, Math.max(length, 1)));
  let at = 0;
  while (at < length) {
    const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, length - at), at);
    if (bytesRead === 0)
      throw new RawWriterError(
        'PartialTooShort',
        `resume: the file ended at ${at} while re-reading its first ${length} bytes`,
      );
    hasher.update(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
}

function validateState(state: RawSparseState): RawSparseState {
  const s = state as Partial<RawSparseState> | null;
  const bad = (what: string): never => {
    throw new RawWriterError('InvalidState', `resume state: ${what}`);
  };
  if (typeof s !== 'object' || s === null) return bad('not an object');
  if (s.format !== 'raw-sparse') bad(`format is ${JSON.stringify(s.format)}, expected "raw-sparse"`);
  if (s.version !== 1) bad(`version is ${JSON.stringify(s.version)}, expected 1`);
  if (!Number.isSafeInteger(s.sizeBytes) || (s.sizeBytes ?? -1) < 0)
    bad(`sizeBytes ${JSON.stringify(s.sizeBytes)} is not a non-negative integer`);
  if (!Number.isSafeInteger(s.offset) || (s.offset ?? -1) < 0 || (s.offset ?? 0) > (s.sizeBytes ?? 0)) {
    bad(`offset ${JSON.stringify(s.offset)} is not an integer from 0 to sizeBytes (${s.sizeBytes})`);
  }
  if (s.hashing !== 'saved-state' && s.hashing !== 'reread-prefix')
    bad(`hashing ${JSON.stringify(s.hashing)} is neither "saved-state" nor "reread-prefix"`);
  if (s.hashing === 'saved-state' && typeof s.sha256State !== 'string')
    bad('sha256State is missing (hashing "saved-state")');
  return s as RawSparseState;
}
