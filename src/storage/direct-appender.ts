// Appends to a local file with O_DIRECT, gathering the caller's buffers (a qcow2
// writer's clusters and tables, often 64 KiB each and scattered in memory) into
// aligned staging buffers written one MiB at a time, two writes in flight: one
// direct write per cluster cost more than the page cache it saves (bench/formats
// section 2 ran at half speed that way). Why direct at all: direct-io.ts.
//
// Only appends whose offset and length are multiples of DIRECT_ALIGN go this way;
// append() says false for any other, which the caller writes through the page
// cache (the two never share a block). Where the device refuses (EINVAL), the
// appender turns itself off and the rest goes buffered too.
import type { FileHandle } from 'node:fs/promises';
import { alignedBuffers, DIRECT_ALIGN, isEinval, openDirect } from './direct-io.js';
import { writeFully } from './raw/run-writer.js';

const STAGING_BYTES = 1024 * 1024;

export class DirectAppender {
  private on = true;

  private constructor(
    private readonly direct: FileHandle,
    private readonly buffered: FileHandle,
    private readonly staging: Buffer[],
  ) {}

  /**
   * Opens a direct handle on `path`, or undefined where the file system has none.
   * Finding aligned memory writes one block of zeros at `position` (aligned, the
   * end of the data): the first append, at least a block long, overwrites it.
   */
  static async open(path: string, buffered: FileHandle, position: number): Promise<DirectAppender | undefined> {
    const direct = await openDirect(path);
    if (!direct) return undefined;
    try {
      return new DirectAppender(direct, buffered, await alignedBuffers(direct, position, 2, STAGING_BYTES));
    } catch (err) {
      await direct.close().catch(() => undefined);
      throw err;
    }
  }

  /** Writes `buffers` at `position` and resolves once they are in the file; false (nothing written) when not aligned. */
  async append(buffers: Buffer[], position: number, bytes: number): Promise<boolean> {
    if (!this.on || position % DIRECT_ALIGN !== 0 || bytes % DIRECT_ALIGN !== 0) return false;
    const inFlight: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    let slot = 0;
    let fill = 0;
    let at = position;
    const send = async (): Promise<void> => {
      inFlight[slot] = this.writeStaged(this.staging[slot]!.subarray(0, fill), at);
      at += fill;
      fill = 0;
      slot ^= 1;
      await inFlight[slot]; // the other buffer's write, before it is filled again
    };
    try {
      for (const b of buffers) {
        for (let off = 0; off < b.length; ) {
          const n = b.copy(this.staging[slot]!, fill, off);
          fill += n;
          off += n;
          if (fill === STAGING_BYTES) await send();
        }
      }
      if (fill > 0) await send();
    } finally {
      await Promise.allSettled(inFlight);
    }
    await Promise.all(inFlight);
    return true;
  }

  private async writeStaged(staged: Buffer, position: number): Promise<void> {
    if (this.on) {
      try {
        await writeFully(this.direct, staged, position);
        return;
      } catch (err) {
        if (!isEinval(err)) throw err;
        this.on = false; // the device refused the alignment: buffered from now on
      }
    }
    await writeFully(this.buffered, staged, position);
  }

  close(): Promise<void> {
    this.on = false;
    return this.direct.close();
  }
}
