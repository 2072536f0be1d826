// Certificate pinning for transfers. TLS is verified against the system CAs by
// default; `insecure` turns verification off explicitly. A thumbprint (SHA-1, as
// vSphere leases give, or SHA-256) pins the server certificate instead: ESXi hosts
// usually present self-signed certificates, so with a pin the CA chain is not
// required, but the peer certificate's fingerprint must match exactly or the
// connection is refused before any request is sent (see http-get.ts).
import type { TLSSocket } from 'node:tls';

export const THUMBPRINT_MISMATCH = 'ERR_HYPERSDK_THUMBPRINT_MISMATCH';

/** "ab:cd:…" / "ABCD…" → "ABCD…"; throws on anything that is not a SHA-1 or SHA-256 hex digest. */
export function normaliseThumbprint(thumbprint: string): string {
  const hex = thumbprint.replace(/[:\s-]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex) || (hex.length !== 40 && hex.length !== 64)) {
    throw new Error('certificate thumbprint must be a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) digest');
  }
  return hex;
}

export function peerMatchesThumbprint(socket: TLSSocket, pinned: string): boolean {
  const cert = socket.getPeerCertificate();
  const fingerprint = pinned.length === 40 ? cert.fingerprint : cert.fingerprint256;
  return typeof fingerprint === 'string' && fingerprint.replace(/:/g, '').toUpperCase() === pinned;
}
