// Part size for S3 multipart uploads, chosen from the disk size so the 10,000-part
// limit is never reached: at least 8 MiB, whole MiB, with 10 % head room because
// the size we are given may be a hint (a stream-optimized VMDK's size is only
// known at the end; callers pass the disk capacity as an upper bound).
export const MIB = 1024 * 1024;
export const MIN_PART_BYTES = 8 * MIB;
export const MAX_PART_BYTES = 5 * 1024 * MIB;
export const MAX_PARTS = 10_000;
/** Used when no size is known at all: 16 MiB parts cover objects up to ~156 GiB. */
export const UNKNOWN_SIZE_PART_BYTES = 16 * MIB;
const PLANNED_PARTS = 9_000;

export function choosePartSize(sizeBytes: number | undefined): number {
  if (sizeBytes === undefined || !Number.isFinite(sizeBytes) || sizeBytes < 0) return UNKNOWN_SIZE_PART_BYTES;
  const needed = Math.ceil(sizeBytes / PLANNED_PARTS / MIB) * MIB;
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, needed));
}
