// Detects a source that changed between two attempts: only fields both responses
// carry are compared, so a server that sends no ETag is judged by size and date.
import type { SourceIdentity } from './types.js';

/** Weak and strong ETags of the same representation compare equal here ("W/" is dropped). */
function normaliseEtag(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

export function identityMismatch(before: SourceIdentity, now: SourceIdentity): string | undefined {
  if (before.sizeBytes !== undefined && now.sizeBytes !== undefined && before.sizeBytes !== now.sizeBytes) {
    return `size changed from ${before.sizeBytes} to ${now.sizeBytes}`;
  }
  if (before.etag !== undefined && now.etag !== undefined && normaliseEtag(before.etag) !== normaliseEtag(now.etag)) {
    return `ETag changed from ${before.etag} to ${now.etag}`;
  }
  if (before.lastModified !== undefined && now.lastModified !== undefined && before.lastModified !== now.lastModified) {
    return `Last-Modified changed from ${before.lastModified} to ${now.lastModified}`;
  }
  return undefined;
}
