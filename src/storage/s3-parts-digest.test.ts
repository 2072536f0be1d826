import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compactS3State, digestOfParts, PartsDigest } from './s3-parts-digest.js';
import type { CompletedPart, LegacyS3WriterState } from './sink.js';

const PART = 64 * 1024 * 1024;

/** Parts as S3 reports them: quoted hex MD5 ETags, all full but maybe the last. */
function partsOf(count: number, lastSize = PART): CompletedPart[] {
  return Array.from({ length: count }, (_, i) => ({
    partNumber: i + 1,
    etag: `"${createHash('md5').update(`part ${i + 1}`).digest('hex')}"`,
    sizeBytes: i === count - 1 ? lastSize : PART,
  }));
}

function legacy(parts: CompletedPart[]): LegacyS3WriterState {
  return { kind: 's3', key: 'exports/vm/disk-0.vmdk', uploadId: 'a'.repeat(120), partSizeBytes: PART, parts };
}

describe('compact S3 writer state', () => {
  it('has the same JSON size at 2 and at 10,000 parts (the old shape grows by ~60 bytes a part)', () => {
    const small = compactS3State(legacy(partsOf(2)))!;
    const large = compactS3State(legacy(partsOf(10_000)))!;
    const sizeOf = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));
    // Only the digits of partsDone differ.
    expect(sizeOf(large) - sizeOf(small)).toBe(4);
    expect(sizeOf(large)).toBeLessThan(400);
    expect(sizeOf(legacy(partsOf(10_000)))).toBeGreaterThan(500_000);
    expect(large.partsDone).toBe(10_000);
    expect(large.partsDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('digests the exact ordered list: number, ETag and size all count', () => {
    const parts = partsOf(5, 123);
    const base = digestOfParts(parts);
    expect(digestOfParts(partsOf(5, 123))).toBe(base);
    const otherEtag = parts.map((p) => (p.partNumber === 3 ? { ...p, etag: '"00000000000000000000000000000000"' } : p));
    const otherSize = parts.map((p) => (p.partNumber === 5 ? { ...p, sizeBytes: 124 } : p));
    const swapped = [parts[1]!, parts[0]!, ...parts.slice(2)];
    for (const variant of [otherEtag, otherSize, swapped, parts.slice(0, 4)]) expect(digestOfParts(variant)).not.toBe(base);
    // Field boundaries are unambiguous: "1:ab:3" never collides with "1:a:b3"-like splits.
    // The same ETag quoted (AWS) or not (some S3-compatible stores) is the same part.
    expect(digestOfParts(parts.map((p) => ({ ...p, etag: p.etag.slice(1, -1) })))).toBe(base);
    expect(digestOfParts([{ partNumber: 1, etag: 'a', sizeBytes: 12 }])).not.toBe(digestOfParts([{ partNumber: 11, etag: 'a', sizeBytes: 2 }]));
  });

  it('grows part by part to the same digest as hashing the whole list', () => {
    const parts = partsOf(7, 99);
    const d = new PartsDigest();
    const seen: string[] = [];
    for (const p of parts) {
      d.add(p);
      seen.push(d.hex());
    }
    expect(seen.at(-1)).toBe(digestOfParts(parts));
    expect(seen[2]).toBe(digestOfParts(parts.slice(0, 3)));
    expect(new PartsDigest().hex()).toBe(createHash('sha256').digest('hex'));
  });

  it('converts the old shape (every part listed) and passes the new one through', () => {
    const parts = partsOf(3, 10);
    const converted = compactS3State(legacy(parts));
    expect(converted).toEqual({
      kind: 's3',
      key: 'exports/vm/disk-0.vmdk',
      uploadId: 'a'.repeat(120),
      partSizeBytes: PART,
      partsDone: 3,
      partsDigest: digestOfParts(parts),
    });
    expect(compactS3State(converted!)).toBe(converted);
    expect(compactS3State(legacy([]))?.partsDone).toBe(0);
  });

  it('refuses an old-shape state whose parts are not exactly 1..n (the upload then restarts)', () => {
    const parts = partsOf(4);
    expect(compactS3State(legacy([parts[0]!, parts[2]!]))).toBeUndefined();
    expect(compactS3State(legacy(parts.slice(1)))).toBeUndefined();
  });
});
