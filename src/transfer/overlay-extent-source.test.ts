// The overlay's merge: every byte of the result must be the change where one
// covers it, else the base's, and each read must go to the source that owns it.
import { describe, expect, it } from 'vitest';
import type { Extent, ExtentSource } from '../core/extent-source.js';
import { OverlayExtentSource } from './overlay-extent-source.js';

class MemorySource implements ExtentSource {
  readonly concurrency = 2;
  readonly maxReadBytes = 8;
  reads: Extent[] = [];
  constructor(
    readonly where: string,
    readonly sizeBytes: number,
    private readonly extents: Extent[],
    private readonly fill: number,
  ) {}
  identity() {
    return { etag: this.where };
  }
  async *allocated(from: number): AsyncIterable<Extent> {
    // As a remote map comes: one answer at a time.
    for (const e of this.extents) if (e.offset + e.length > from) yield await Promise.resolve(e);
  }
  read(extent: Extent): Promise<Buffer> {
    this.reads.push(extent);
    return Promise.resolve(Buffer.alloc(extent.length, this.fill));
  }
}

async function materialise(source: ExtentSource, from = 0): Promise<{ image: Buffer; extents: Extent[] }> {
  const image = Buffer.alloc(source.sizeBytes);
  const extents: Extent[] = [];
  const signal = new AbortController().signal;
  for await (const e of source.allocated(from, signal)) {
    extents.push(e);
    (await source.read(e, signal)).copy(image, e.offset);
  }
  return { image, extents };
}

describe('OverlayExtentSource', () => {
  // Base: bytes 0..40 and 50..60 hold 'b'; changes (blocks of 8): 8..16, 32..40 (a block the base did not hold at 40..48), 56..64.
  const base = () => new MemorySource('base', 64, [{ offset: 0, length: 40 }, { offset: 50, length: 10 }], 0x62);
  const changes = () =>
    new MemorySource('changes', 64, [
      { offset: 8, length: 8, handle: 'h1' },
      { offset: 32, length: 8, handle: 'h2' },
      { offset: 40, length: 8, handle: 'zero' },
      { offset: 56, length: 8, handle: 'h3' },
    ], 0x63);

  it('yields the changes where they are and the base around them, in order, never overlapping', async () => {
    const b = base();
    const c = changes();
    const { image, extents } = await materialise(new OverlayExtentSource(b, c));
    expect(image.toString('latin1')).toBe(
      'bbbbbbbb' + 'cccccccc' + 'bbbbbbbbbbbbbbbb' + 'cccccccc' + 'cccccccc' + '\0\0' + 'bbbbbb' + 'cccccccc',
    );
    for (let i = 1; i < extents.length; i++) expect(extents[i]!.offset).toBeGreaterThanOrEqual(extents[i - 1]!.offset + extents[i - 1]!.length);
    // Every change read once with its own handle; the base never read where a change is.
    expect(c.reads.map((r) => r.handle)).toEqual(['h1', 'h2', 'zero', 'h3']);
    for (const r of b.reads) for (const ch of [[8, 16], [32, 48], [56, 64]] as const) expect(r.offset + r.length <= ch[0] || r.offset >= ch[1]).toBe(true);
  });

  it('resumes from an offset inside a change and inside a base extent', async () => {
    const { image, extents } = await materialise(new OverlayExtentSource(base(), changes()), 12);
    expect(extents[0]).toEqual({ offset: 12, length: 4, handle: 'c:h1' });
    expect(image.subarray(12).toString('latin1')).toBe('cccc' + 'bbbbbbbbbbbbbbbb' + 'cccccccc' + 'cccccccc' + '\0\0' + 'bbbbbb' + 'cccccccc');
    const later = await materialise(new OverlayExtentSource(base(), changes()), 20);
    expect(later.extents[0]).toEqual({ offset: 20, length: 12 });
  });

  it('reads a piece without a handle (cut by the engine) from the base', async () => {
    const b = base();
    const overlay = new OverlayExtentSource(b, changes());
    const data = await overlay.read({ offset: 16, length: 8 }, new AbortController().signal);
    expect(data.toString('latin1')).toBe('bbbbbbbb');
    expect(b.reads).toEqual([{ offset: 16, length: 8 }]);
  });
});
