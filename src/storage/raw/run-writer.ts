// Writes the non-zero runs of the raw image into the file, through the page cache
// or, when the caller gives a second handle opened with O_DIRECT, straight to the
// device. Why direct: buffered writes cost ~3 s of kernel CPU per GiB on the
// project's 2-core machine (docs/PERFORMANCE.md, storage/direct-io.ts) against
// ~0.2 s direct; an image is written once and never read back, so the cache only
// costs.
//
// A direct write needs the memory, the file offset and the length aligned to the
// device's block, and the caller's buffers are not: the block-aligned middle of a
// run is copied into one of two aligned staging buffers (a memcpy, ~0.1 s per GiB)
// and written from there, two writes in flight at most; a run's unaligned head
// and tail (extent edges, the disk's last partial block) go through the page
// cache. The two kinds never share a block, so the cache stays coherent; the
// writer's fdatasync covers both. Where the device refuses (EINVAL: alignment not
// found, a file system without O_DIRECT), writing continues buffered.
import type { FileHandle } from 'node:fs/promises';
import { alignedBuffers, DIRECT_ALIGN, isEinval } from '../direct-io.js';

const STAGING_BYTES = 1024 * 1024;

export class RunWriter {
  private staging: Buffer[] = [];
  private inFlight: (Promise<void> | undefined)[] = [undefined, undefined];
  private next = 0;

  private constructor(
    private readonly fh: FileHandle,
    private direct: FileHandle | undefined,
  ) {}

  /**
   * `keepBytes`: the file's bytes worth keeping. Finding aligned memory may write a
   * block of zeros past them, so the caller truncates the file to them afterwards.
   */
  static async open(fh: FileHandle, direct: FileHandle | undefined, keepBytes: number): Promise<RunWriter> {
    const w = new RunWriter(fh, direct);
    if (direct) {
      const probeAt = Math.ceil(keepBytes / DIRECT_ALIGN) * DIRECT_ALIGN;
      w.staging = await alignedBuffers(direct, probeAt, 2, STAGING_BYTES, 'write');
    }
    return w;
  }

  /** True while writes go to the device directly. */
  get isDirect(): boolean {
    return this.direct !== undefined;
  }

  /**
   * Writes `run` at file offset `position`; resolves when it is in the file and
   * `run` is no longer read. Every write that can start at once is started before
   * the first await, so the caller can hash while they run on libuv's pool.
   */
  async write(run: Buffer, position: number): Promise<void> {
    const head = Math.min(run.length, (DIRECT_ALIGN - (position % DIRECT_ALIGN)) % DIRECT_ALIGN);
    const middle = this.direct ? Math.floor((run.length - head) / DIRECT_ALIGN) * DIRECT_ALIGN : 0;
    if (middle === 0) return writeFully(this.fh, run, position);
    const writes: Promise<void>[] = [];
    if (head > 0) writes.push(writeFully(this.fh, run.subarray(0, head), position));
    for (let at = head; at < head + middle; at += STAGING_BYTES) {
      writes.push(
        this.stageAndWrite(run.subarray(at, Math.min(head + middle, at + STAGING_BYTES)), position + at),
      );
    }
    const tail = head + middle;
    if (tail < run.length) writes.push(writeFully(this.fh, run.subarray(tail), position + tail));
    await settleAll(writes);
  }

  /**
   * Copies `piece` into the next staging buffer and writes it from there. The
   * buffer's previous write is waited for (a chain per buffer, claimed
   * synchronously, so two pieces never share a buffer); a free buffer starts at once.
   */
  private stageAndWrite(piece: Buffer, position: number): Promise<void> {
    const slot = this.next;
    this.next = (slot + 1) % this.staging.length;
    const buffer = this.staging[slot]!.subarray(0, piece.length);
    const start = (): Promise<void> => {
      piece.copy(buffer);
      return this.writeStaged(buffer, position);
    };
    const previous = this.inFlight[slot];
    // A previous failure was reported to its own caller; this piece still gets written.
    const write = previous ? previous.then(start, start) : start();
    this.inFlight[slot] = write;
    const release = (): void => {
      if (this.inFlight[slot] === write) this.inFlight[slot] = undefined;
    };
    void write.then(release, release);
    return write;
  }

  private async writeStaged(staged: Buffer, position: number): Promise<void> {
    const direct = this.direct;
    if (!direct) return writeFully(this.fh, staged, position);
    try {
      await writeFully(direct, staged, position);
    } catch (err) {
      if (!isEinval(err)) throw err;
      this.direct = undefined; // the device refused the alignment: buffered from now on
      await writeFully(this.fh, staged, position);
    }
  }
}

/** Positional write of all of `chunk` (a regular file may take fewer bytes per call). */
export async function writeFully(fh: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`write at file offset ${position + done} wrote nothing`);
    done += bytesWritten;
  }
}

/** Awaits every write, then throws the first failure (none is left running unobserved). */
async function settleAll(writes: Promise<void>[]): Promise<void> {
  const outcomes = await Promise.allSettled(writes);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}
