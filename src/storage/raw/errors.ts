// Typed failures of the raw writer. Callers branch on `code`, never on the text;
// the text names the offending offset or field so a user can act on it. I/O
// errors of the file (ENOSPC, EIO...) are not wrapped: they keep their Node `code`
// so the sink layer can classify them (storage/sink-errors.ts).

export type RawWriterErrorCode =
  /** An extent starts before the end of the previous one (extents must come in order, without overlap). */
  | 'OutOfOrder'
  /** An extent or range reaches past the virtual disk size, or an offset/length is not a safe non-negative integer. */
  | 'OutOfBounds'
  /** A resume state that is not one this writer produced (wrong format, version, fields or hash state). */
  | 'InvalidState'
  /** The file is shorter than the offset its resume state claims durable: it is not the file the state belongs to. */
  | 'PartialTooShort'
  /** A call after finish(), or after an I/O failure left the writer's position unknown. */
  | 'Unusable';

export class RawWriterError extends Error {
  override readonly name = 'RawWriterError';
  constructor(
    readonly code: RawWriterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
