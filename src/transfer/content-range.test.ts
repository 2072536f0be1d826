import { describe, expect, it } from 'vitest';
import { parseContentRange } from './content-range.js';
import { identityMismatch } from './source-identity.js';
import { normaliseThumbprint } from './tls-pinning.js';

describe('parseContentRange', () => {
  it('parses a satisfied range', () => {
    expect(parseContentRange('bytes 100-199/200')).toEqual({ start: 100, end: 199, total: 200 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: undefined });
  });
  it('parses the unsatisfied form', () => {
    expect(parseContentRange('bytes */500')).toEqual({ total: 500 });
  });
  it('rejects malformed or inconsistent values', () => {
    expect(parseContentRange(undefined)).toBeUndefined();
    expect(parseContentRange('bytes 10-5/20')).toBeUndefined();
    expect(parseContentRange('bytes 0-20/20')).toBeUndefined();
    expect(parseContentRange('items 0-1/2')).toBeUndefined();
  });
});

describe('identityMismatch', () => {
  it('compares only fields both sides have', () => {
    expect(identityMismatch({ sizeBytes: 10 }, { etag: '"a"' })).toBeUndefined();
    expect(identityMismatch({ sizeBytes: 10, etag: '"a"' }, { sizeBytes: 10, etag: 'W/"a"' })).toBeUndefined();
  });
  it('reports a different size, ETag or date', () => {
    expect(identityMismatch({ sizeBytes: 10 }, { sizeBytes: 11 })).toMatch(/size/);
    expect(identityMismatch({ etag: '"a"' }, { etag: '"b"' })).toMatch(/ETag/);
    expect(identityMismatch({ lastModified: 'x' }, { lastModified: 'y' })).toMatch(/Last-Modified/);
  });
});

describe('normaliseThumbprint', () => {
  it('accepts colon-separated SHA-1 and SHA-256, any case', () => {
    const sha1 = 'ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01';
    expect(normaliseThumbprint(sha1)).toBe('ABCDEF0123456789ABCDEF0123456789ABCDEF01');
    expect(normaliseThumbprint('a'.repeat(64))).toBe('A'.repeat(64));
  });
  it('rejects anything else', () => {
    expect(() => normaliseThumbprint('abc')).toThrow();
    expect(() => normaliseThumbprint('z'.repeat(40))).toThrow();
  });
});
