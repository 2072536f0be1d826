// A disk read as extents: a source that knows which bytes hold data (an
// allocation map: EBS snapshot blocks, a page blob's page ranges, vSphere's
// changed areas) and reads any part of them, concurrently. The transfer's
// extent engine (transfer/extent-transfer.ts) reads one into a raw or qcow2
// image; providers implement it.

export interface Extent {
  offset: number;
  length: number;
  /** The source's own handle for reading this extent (EBS: its block token), given back to read() when the extent is read whole. */
  handle?: string;
}

/** A disk that can say where its data is and read any part of it. */
export interface ExtentSource {
  /** The disk's size in bytes. */
  readonly sizeBytes: number;
  /** Reads in flight at once. */
  readonly concurrency: number;
  /** The longest extent one read() is given. */
  readonly maxReadBytes: number;
  /** What identifies the source's bytes, compared with a checkpoint's before a resume. */
  identity(): { sizeBytes?: number; etag?: string; lastModified?: string };
  /**
   * The extents holding data from `from` on (the first may start before it), in
   * increasing offset order and not overlapping; every other byte reads as zero.
   * A source without an allocation map yields [from, sizeBytes).
   */
  allocated(from: number, signal: AbortSignal): AsyncIterable<Extent>;
  /** Exactly the extent's bytes, verified as far as the source can (checksums). Called concurrently. */
  read(extent: Extent, signal: AbortSignal): Promise<Buffer>;
  /**
   * Takes back a buffer read() returned, once the transfer is done with it (it is
   * in the image and the writer keeps no reference), to read another extent into:
   * no allocation, page faults or garbage per block. Optional; a buffer the source
   * did not make is ignored.
   */
  recycle?(data: Buffer): void;
  /** For messages: where the bytes come from, without secrets. */
  readonly where: string;
}
