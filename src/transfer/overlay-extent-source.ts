// Changes laid over a base: the disk as it is now, read as the base's extents
// wherever the changes say nothing and as the changes' extents where they do.
// An incremental export reads an earlier export's image (local, fast) as the
// base and a snapshot's changed blocks (EBS ListChangedBlocks) as the changes,
// so only the changes cross the network, and the extent engine writes a new
// image identical to a full export of the new snapshot.
//
// Both sources' extents come in offset order; they are merged lazily, a base
// extent cut around every change it overlaps. Each extent says where it is read
// from in its handle ("c:<the change's handle>"); an extent without one (the
// engine cuts long extents into pieces and drops their handles) is the base's.
import type { Extent, ExtentSource } from '../core/extent-source.js';

const CHANGE = 'c:';

export class OverlayExtentSource implements ExtentSource {
  readonly sizeBytes: number;
  readonly concurrency: number;
  readonly maxReadBytes: number;
  readonly where: string;

  constructor(
    private readonly base: ExtentSource,
    private readonly changes: ExtentSource,
  ) {
    this.sizeBytes = changes.sizeBytes;
    this.concurrency = changes.concurrency;
    this.maxReadBytes = changes.maxReadBytes;
    this.where = `${changes.where} over ${base.where}`;
  }

  identity(): { sizeBytes: number; etag: string } {
    return { sizeBytes: this.sizeBytes, etag: `${this.changes.identity().etag ?? ''} over ${this.base.identity().etag ?? ''}` };
  }

  async *allocated(from: number, signal: AbortSignal): AsyncIterable<Extent> {
    const size = this.sizeBytes;
    const clip = (e: Extent | undefined): Extent | undefined => {
      if (!e) return undefined;
      const start = Math.max(e.offset, from);
      const end = Math.min(e.offset + e.length, size);
      if (end <= start) return { offset: start, length: 0 };
      return start === e.offset && end === e.offset + e.length ? e : { ...e, offset: start, length: end - start };
    };
    const changes = this.changes.allocated(from, signal)[Symbol.asyncIterator]();
    const bases = this.base.allocated(from, signal)[Symbol.asyncIterator]();
    const next = async (it: AsyncIterator<Extent>): Promise<Extent | undefined> => {
      for (;;) {
        const r = await it.next();
        if (r.done) return undefined;
        const e = clip(r.value);
        if (e && e.length > 0) return e;
        if (e && e.offset >= size) return undefined;
      }
    };
    let c = await next(changes);
    let b = await next(bases);
    while (c || b) {
      if (c && (!b || c.offset <= b.offset)) {
        yield { offset: c.offset, length: c.length, handle: CHANGE + (c.handle ?? '') };
        const changeEnd = c.offset + c.length;
        while (b && b.offset < changeEnd) {
          const baseEnd = b.offset + b.length;
          b = baseEnd <= changeEnd ? await next(bases) : { offset: changeEnd, length: baseEnd - changeEnd };
        }
        c = await next(changes);
      } else if (b) {
        const baseEnd = b.offset + b.length;
        const end = c ? Math.min(baseEnd, c.offset) : baseEnd;
        yield { offset: b.offset, length: end - b.offset };
        b = end < baseEnd ? { offset: end, length: baseEnd - end } : await next(bases);
      }
    }
  }

  read(extent: Extent, signal: AbortSignal): Promise<Buffer> {
    if (extent.handle?.startsWith(CHANGE)) {
      const handle = extent.handle.slice(CHANGE.length);
      return this.changes.read({ offset: extent.offset, length: extent.length, ...(handle ? { handle } : {}) }, signal);
    }
    return this.base.read({ offset: extent.offset, length: extent.length }, signal);
  }
}
