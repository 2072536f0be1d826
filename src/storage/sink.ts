import type { Qcow2Output } from '../formats/qcow2/output.js';
import type { OvaLayout } from '../formats/ova-layout.js';
import type { OvaRegion } from '../formats/ova-layout.js';

// The output-sink contract the transfer engine writes through. A sink is a place
// (local directory, S3 prefix) that holds the files of one export; a DiskWriter is
// one resumable file being written. Everything a writer needs to resume travels in
// plain JSON (WriterState) inside the transfer checkpoint, i.e. in Temporal
// heartbeat details.

/**
 * Resume state of a local partial file: the file itself holds the bytes. The
 * checkpoint offset counts bytes the kernel has accepted (page cache): they
 * survive a killed worker, not a crashed machine. So the state also names the
 * machine's boot and the last fdatasync'ed offset; a resume after a reboot (or
 * on another machine) falls back to that.
 */
export interface LocalWriterState {
  kind: 'local';
  /** /proc/sys/kernel/random/boot_id when the checkpoint was taken. */
  bootId?: string;
  /** Bytes fdatasync'ed (durable even across a power loss). */
  durableOffset?: number;
}

/** One finished multipart part. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
  sizeBytes: number;
}

/**
 * Resume state of an S3 multipart upload: enough to find it again and to prove,
 * with ListParts, that it still holds the parts counted. Constant size whatever
 * the part count (it travels in every heartbeat); the ETags are recovered from
 * ListParts on resume (see s3-parts-digest.ts).
 */
export interface S3WriterState {
  kind: 's3';
  key: string;
  uploadId: string;
  partSizeBytes: number;
  /** Parts 1..partsDone are uploaded (the contiguous durable prefix). */
  partsDone: number;
  /** SHA-256 hex over "partNumber:etag:size\n" (ETag unquoted) of parts 1..partsDone, in order. */
  partsDigest: string;
}

/** The S3 state of earlier versions (every part listed); still read on resume and at publish. */
export interface LegacyS3WriterState {
  kind: 's3';
  key: string;
  uploadId: string;
  partSizeBytes: number;
  parts: CompletedPart[];
}

/**
 * Resume state of a disk image written by the transfer itself (raw or qcow2,
 * storage/image/): the format writer's own state and its file's. A stream that
 * cannot resume (a lease's streamOptimized VMDK) carries only what it is.
 */
export interface ImageWriterState {
  kind: 'image';
  /** vhd: the raw image with a footer written at finish; it resumes from `raw` like a raw image. */
  format: 'raw' | 'qcow2' | 'vhd';
  /** What the source serves: the disk's bytes, or a streamOptimized VMDK decoded on the fly. */
  encoding: 'raw' | 'vmdk-stream';
  /** The qcow2 writer's checkpoint (formats/qcow2/state.ts, under 56 KiB); absent when nothing can resume. */
  qcow2?: unknown;
  /** A local sparse raw image's checkpoint (storage/raw: offset and size, ~100 bytes); absent when nothing can resume. */
  raw?: unknown;
  /** A raw or vhd image sent as one stream (S3): the SHA-256 state at the checkpoint's offset (encoders.ts, ~150 bytes); its upload is in `file`. */
  stream?: unknown;
  /** The image file's own state (S3: its upload). */
  file?: WriterState;
}


/**
 * Resume state of an image file uploaded as S3 multipart (s3-image-file.ts):
 * part 1 is the reserved head [0, headBytes), uploaded at finish; parts
 * 2..partsDone hold the bytes after it. Constant size, like S3WriterState.
 */
export interface S3ImageWriterState {
  kind: 's3-image';
  /** The upload's key: the final key, or the hidden staging key when staged. */
  key: string;
  uploadId: string;
  partSizeBytes: number;
  headBytes: number;
  /** Parts 2..partsDone are uploaded (the contiguous durable prefix after the head); 1 = none. */
  partsDone: number;
  /** SHA-256 hex over "partNumber:etag:size\n" (ETag unquoted) of parts 2..partsDone, in order. */
  partsDigest: string;
  /** Set once finish() completed the upload: the object under `key`, its ETag and size. */
  completed?: { etag: string; bytes: number };
}

export type WriterState = LocalWriterState | S3WriterState | LegacyS3WriterState | S3ImageWriterState | ImageWriterState;

/** What a writer needs from a previous attempt (a TransferCheckpoint satisfies this). */
export interface WriterResumePoint {
  /** Bytes known durable when the checkpoint was taken. */
  offset: number;
  sink: WriterState;
}

export interface OpenDiskWriterOptions {
  /** Expected size, or an upper-bound hint (S3 uses it to choose the part size). */
  sizeBytes?: number;
  checkpoint?: WriterResumePoint;
  /**
   * finish() leaves the complete file out of sight (local: ".<name>.verified")
   * for OutputSink.publish() to move under its final name once the whole export
   * has succeeded. Sinks that cannot hide a finished file (S3) publish at finish().
   */
  stage?: boolean;
}

export interface WriterCommit {
  /** Every byte before this offset is durable (local: fdatasync'ed; S3: in completed parts). */
  offset: number;
  state: WriterState;
}

export interface FinishedFile {
  name: string;
  /** SHA-256 (hex) of the file, from writers that hash what they write themselves (DiskWriter.hashesOutput). */
  sha256?: string;
  /** The file's sink state once finished, where publishing a staged file needs it (S3: the completed upload). */
  state?: WriterState;
  /** Final location: absolute path or s3://bucket/key. */
  uri: string;
  sizeBytes: number;
}

export interface DiskWriter {
  readonly name: string;
  /**
   * How the engine recovers the hash of the bytes before `resumeOffset`:
   * 'reread' — the writer can read its durable prefix back (local);
   * 'saved-state' — it cannot (S3), so the checkpoint must carry a hash state.
   */
  readonly prefixHashing: 'reread' | 'saved-state';
  /** Durable points are multiples of this (S3: the part size), or the end. 1 = any offset. */
  readonly commitGranularity: number;
  /** Where the next write lands: the checkpoint offset when it could be resumed, else 0. */
  readonly resumeOffset: number;
  /**
   * Appends bytes. Resolves when the writer can take more (backpressure), not when durable.
   * The writer may keep reading `chunk` after that. Writers with `releasesChunks`
   * call `release` exactly once when they no longer read it (copied, written, or
   * dropped by a failure, reset or close), so the caller may reuse the memory.
   */
  write(chunk: Buffer, release?: () => void): Promise<void>;
  /** True when write() honours `release`; otherwise a chunk must never be reused. */
  readonly releasesChunks?: boolean;
  /**
   * True when the file is not the bytes written (a qcow2 image, a decoded
   * stream): the writer hashes its own output and finish() returns its SHA-256,
   * and the engine neither hashes the source bytes nor recovers a prefix hash.
   */
  readonly hashesOutput?: boolean;
  /**
   * Reusable buffers that this writer writes fastest (local: memory aligned for
   * O_DIRECT). Only for writers with `releasesChunks`; call before the first write
   * of an attempt. `bytes` should be a multiple of 4096.
   */
  allocateBuffers?(count: number, bytes: number): Promise<Buffer[]>;
  /** Makes what it can durable and reports it (never the bytes of a failed write). May run concurrently with write(). */
  commit(): Promise<WriterCommit>;
  /** Pushes every written byte to durable storage (the last short S3 part included). */
  flush(): Promise<void>;
  /** Drops everything: the next write lands at offset 0. */
  reset(): Promise<void>;
  /** Reads back [0, resumeOffset) — only for prefixHashing 'reread'. */
  readPrefix?(): AsyncIterable<Buffer>;
  /** Publishes the file atomically under its final name. Call after flush(). */
  finish(): Promise<FinishedFile>;
  /** Releases resources and keeps the partial for a later resume. */
  close(): Promise<void>;
  /** Removes the partial (local file / S3 multipart upload). */
  abort(): Promise<void>;
}

/**
 * What a sink records beside a staged disk: which job wrote it and, once every
 * byte is in and hashed, its size and SHA-256. A later job reuses a verified disk
 * only when its source identity is the same; cleanup removes only records (and
 * their data) of its own job.
 */
export interface StagedDiskRecord {
  version: 1;
  jobId: string;
  /** Every byte is in the staged file, fsynced, and hashed. */
  verified: boolean;
  bytes?: number;
  sha256?: string;
  /** What the bytes are a copy of (plain JSON, compared field by field). */
  source: Record<string, string | number | boolean>;
  /** The writer's state at the end (S3: the upload that publish() completes). */
  sinkState?: WriterState;
  updatedAt: string;
}

export interface OutputSink {
  /** Human-readable location of the sink: directory or s3://bucket/prefix. */
  readonly location: string;
  openDiskWriter(name: string, options: OpenDiskWriterOptions): Promise<DiskWriter>;
  /** Writes a small whole file atomically (OVF descriptor, manifest). */
  writeFile(name: string, data: Buffer | string): Promise<FinishedFile>;
  /** Removes the file and any partial or in-progress upload of it. */
  remove(name: string): Promise<void>;
  /** Final URI/path of a file, whether or not it exists yet. */
  describe(name: string): string;
  /** Names of complete files (never partials). */
  listComplete(): Promise<string[]>;
  /** Which of `names` exist as complete files under their final names. */
  existing(names: string[]): Promise<string[]>;
  /** True when this sink can keep finished disks out of sight until publish() (local). */
  readonly stages: boolean;
  /** The staging record of a disk, if any (undefined also for an unreadable one). */
  readStaged(name: string): Promise<StagedDiskRecord | undefined>;
  /** Writes the staging record atomically (no-op where the sink does not stage). */
  writeStaged(name: string, record: StagedDiskRecord): Promise<void>;
  /**
   * Writes the staging record only if the disk has none: a claim that two jobs
   * racing for one name cannot both win. Returns undefined when written, else the
   * record found. Absent where the sink does not stage.
   */
  createStaged?(name: string, record: StagedDiskRecord): Promise<StagedDiskRecord | undefined>;
  /**
   * Moves a staged, verified disk under its final name, atomically replacing an
   * older file of that name; idempotent (a retry after the move succeeds).
   * Sinks that do not stage: the file is already there.
   */
  publish(name: string): Promise<FinishedFile>;
  /** Removes a staged disk: its partial, its verified copy and its record. Never the final file. */
  discardStaged(name: string): Promise<void>;
  /** Archives written in place (local directories only; see ova-region-writer.ts). */
  readonly archives?: ArchiveStaging;
  /** A disk image written by offset (qcow2, sparse raw); see ImageFile. */
  openImageFile?(name: string, options: OpenImageFileOptions): Promise<ImageFile>;
  /** True when its image files take writes anywhere (local files); false: appends and a head written last (S3). */
  readonly imagesSeekable?: boolean;
  /**
   * A published file, read back by offset: the earlier image an incremental
   * export lays a snapshot's changes over. Rejects with code ENOENT when there is none.
   */
  openFinished(name: string): Promise<FinishedFileReader>;
}

/** A published file of the sink, read by offset; closed by its reader. */
export interface FinishedFileReader {
  readonly uri: string;
  readonly sizeBytes: number;
  /** Changes whenever the file does (local: size and mtime; S3: the ETag). */
  readonly version: string;
  /**
   * True when reading all of it costs no more than reading what it holds (a local
   * file's holes read as zeros at memory speed, and again from the page cache):
   * a raw image is then scanned for its data instead of read back whole.
   */
  readonly cheapScan: boolean;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * A disk image written by offset rather than as one stream: a qcow2 image (data
 * and tables appended, the header written last at offset 0) or a sparse raw
 * image. The random-access methods match what the qcow2 writer needs of its
 * output (formats/qcow2/output.ts), so an ImageFile is one.
 *
 * Local files: any write anywhere, holes read as zeros, everything datasync'ed
 * is durable. S3 (a multipart upload): writes only append at the end, except
 * the reserved head [0, headBytes) which is written once at the end and becomes
 * part 1; only whole parts are durable (durableLength()).
 */
export interface ImageFile extends Qcow2Output {
  readonly name: string;
  /** True when writes may land anywhere and skipped ranges cost nothing (local files). */
  readonly randomAccess: boolean;
  /** With durableLength: the bytes that must be waiting before the durable prefix can grow (S3: the part size). */
  readonly durableGranularity?: number;
  /** The file's own resume state (S3: the upload and its durable parts), plain JSON of constant size. */
  state(): WriterState;
  /** Publishes the finished file under its final name (staged: its hidden verified name). */
  finish(): Promise<FinishedFile>;
  /** SHA-256 (hex) of the finished file's bytes, read back after finish(). */
  sha256(): Promise<string>;
  /**
   * Said once it is known that sha256() will read the file back: a local file
   * then keeps what follows in the page cache instead of writing it directly.
   */
  willBeReadBack?(): void;
  /** Releases resources and keeps the partial for a later resume. */
  close(): Promise<void>;
  /** Removes the partial (local file / S3 multipart upload). */
  abort(): Promise<void>;
}

export interface OpenImageFileOptions {
  /** Bytes reserved at the start, written once at the end (S3: at least the 5 MiB minimum part). */
  headBytes: number;
  /** Expected upper bound of the file's size (S3 chooses its part size from it). */
  sizeHint?: number;
  /** The state of an earlier attempt to continue from; absent (or unusable): a new, empty file. */
  resume?: WriterState;
  /** As OpenDiskWriterOptions.stage. */
  stage?: boolean;
}

/** An archive (OVA) whose members are written straight into its partial file. */
export interface ArchiveStaging {
  /** Creates (or keeps, when it has that size) the archive's partial at its final size. */
  create(name: string, totalBytes: number): Promise<void>;
  /** A writer for one member's data region of the partial. */
  openRegion(name: string, region: OvaRegion, options: OpenDiskWriterOptions): Promise<DiskWriter>;
  /** Writes the headers, descriptor, manifest and end blocks around the regions. */
  writeHeaders(name: string, layout: OvaLayout, contents: { descriptor: string; manifest: string }): Promise<void>;
  /** Moves the finished partial under its final name; idempotent. */
  publish(name: string): Promise<FinishedFile>;
  /**
   * Reads a staged, verified disk from `start` to its end (or to `end`): the source
   * an archive is packed from when the disk sizes were only known after the transfers.
   */
  readVerified(name: string, start: number, end?: number): AsyncIterable<Buffer>;
}
