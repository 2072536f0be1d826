// Direct I/O (O_DIRECT) for local partial files.
//
// Why: a disk image is written once and not read back, so the page cache only
// costs. Buffered writes copy every byte into the cache and then stall on
// writeback; on the 2-core reference machine that kernel time was the largest
// single cost of a transfer (≈3 s of system CPU per GiB against ≈0.1 s with
// O_DIRECT; bench/transfer.ts). Direct writes go from our buffer to the device,
// so they are also durable as soon as they complete (up to the device's cache and
// the file size, which fdatasync at the checkpoints covers).
//
// The kernel accepts a direct write only when the buffer's address, the file
// offset and the length are multiples of the device's logical block size, else it
// fails with EINVAL before writing anything. JavaScript cannot see a buffer's
// address, so alignment is found by probing: a one-block direct write from each
// candidate offset into the buffer. Every other write (an unaligned tail, a
// caller's own buffer) goes through the page cache as before. File systems
// without O_DIRECT (tmpfs) refuse the open, and the writer stays buffered.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Offsets and lengths of direct writes are multiples of this; it covers 512-byte and 4K-sector devices. */
export const DIRECT_ALIGN = 4096;
/** malloc returns memory aligned to 16 bytes: the only offsets worth probing. */
const MALLOC_ALIGN = 16;

/**
 * A second handle on `path` for direct writes (and reads, when `readable`), or
 * undefined where the platform or file system has none.
 */
export async function openDirect(path: string, readable = false): Promise<FileHandle | undefined> {
  const direct = constants.O_DIRECT as number | undefined;
  if (direct === undefined) return undefined;
  try {
    return await open(path, (readable ? constants.O_RDWR : constants.O_WRONLY) | constants.O_NOFOLLOW | direct);
  } catch {
    return undefined; // EINVAL on tmpfs and the like: buffered writes still work
  }
}

export function isEinval(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EINVAL';
}

/**
 * `count` zeroed buffers of `bytes` (a multiple of DIRECT_ALIGN) whose memory the
 * device accepts for direct I/O. Probing with 'write' writes one block of zeros at
 * `position` (which must be aligned, at or past the end of the data) and the
 * caller truncates the file back afterwards; probing with 'read' (a handle opened
 * `readable`) reads one block at `position` (aligned, inside the file) and changes
 * nothing, for files that others share. Buffers that no offset suits (never seen)
 * are returned unaligned: their writes simply go through the page cache.
 */
export async function alignedBuffers(direct: FileHandle, position: number, count: number, bytes: number, probe: 'write' | 'read' = 'write'): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const raw = Buffer.alloc(bytes + DIRECT_ALIGN);
    let found = -1;
    for (let at = 0; at < DIRECT_ALIGN && found < 0; at += MALLOC_ALIGN) {
      try {
        if (probe === 'write') await direct.write(raw, at, DIRECT_ALIGN, position);
        else await direct.read(raw, at, DIRECT_ALIGN, position).then(() => raw.fill(0));
        found = at;
      } catch (err) {
        if (!isEinval(err)) throw err;
      }
    }
    out.push(raw.subarray(Math.max(found, 0), Math.max(found, 0) + bytes));
  }
  return out;
}
