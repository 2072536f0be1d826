// Every way a streamOptimized VMDK stream can be refused, as one typed error.
// The stream comes over HTTP from a lease and cannot be re-read, so each error
// names the input byte offset where the decoder saw the problem: that is what an
// operator compares with the source's size, and what a bug report needs.

export type VmdkStreamErrorCode =
  /** The first bytes are not 'KDMV' (and not a text descriptor either). */
  | 'bad-magic'
  /** A text VMDK descriptor with no grain data (e.g. a simulator's 'disk'), not a disk image. */
  | 'descriptor-only'
  /** A sparse VMDK but not streamOptimized (no markers / not compressed / other createType). */
  | 'not-stream-optimized'
  /** A header field has a value this decoder does not handle (version, grain size, algorithm...). */
  | 'bad-header'
  /** The embedded descriptor is missing, too large or not text. */
  | 'bad-descriptor'
  /** A grain marker's LBA is not after the previous grain, not grain-aligned, or beyond capacity. */
  | 'bad-grain-lba'
  /** A grain marker announces more compressed bytes than a grain can take. */
  | 'grain-too-large'
  /** A grain's deflate data does not inflate, or inflates to the wrong size. */
  | 'bad-grain-data'
  /** A metadata marker of unknown type or of a size no table can have. */
  | 'bad-marker'
  /** The footer contradicts the header (capacity, grain size) or is not a header. */
  | 'bad-footer'
  /** The grains received disagree with the grain tables embedded in the overhead. */
  | 'table-mismatch'
  /** Non-zero bytes after the end-of-stream marker. */
  | 'trailing-data'
  /** The input ended before the end-of-stream marker. */
  | 'truncated';

export class VmdkStreamError extends Error {
  override readonly name = 'VmdkStreamError';
  constructor(
    readonly code: VmdkStreamErrorCode,
    /** Byte offset in the input stream where the problem was seen. */
    readonly inputOffset: number,
    detail: string,
  ) {
    super(`streamOptimized VMDK, input byte ${inputOffset}: ${detail}`);
  }

  /**
   * A truncated stream may be a dropped connection, worth one more try from byte
   * 0 (an NFC lease cannot resume mid-file); every other code says the bytes
   * themselves are wrong, and fetching them again gives the same bytes.
   */
  get retryable(): boolean {
    return this.code === 'truncated';
  }
}
