// TLS policy for every connection to vCenter/ESXi: verified by default, `insecure`
// only when asked, or pinned to a certificate thumbprint. Node only calls
// checkServerIdentity after the chain verified, so a pinned self-signed certificate
// can't be accepted there; instead the connector lets the handshake finish without
// rejecting and decides itself from the peer certificate.
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { ErrorType } from '../../core/errors.js';
import { failure } from './faults.js';

export interface TlsPolicy {
  /** Accept any certificate. Explicit opt-in only. */
  insecure?: boolean;
  /** SHA-1 or SHA-256 fingerprint of the expected certificate (hex, colons optional). */
  thumbprint?: string;
}

export function normaliseThumbprint(t: string): string {
  return t.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** Checks an established TLS socket against the policy; returns an error message or undefined. */
export function verifyPeer(socket: TLSSocket, policy: TlsPolicy, host: string): string | undefined {
  if (policy.insecure) return undefined;
  const cert = socket.getPeerCertificate();
  const sha256 = cert.fingerprint256 ?? '';
  const sha1 = cert.fingerprint ?? '';
  if (!sha256) return `TLS connection to ${host} presented no certificate to verify`;
  if (policy.thumbprint) {
    const pin = normaliseThumbprint(policy.thumbprint);
    if (pin === normaliseThumbprint(sha256) || pin === normaliseThumbprint(sha1)) return undefined;
    return (
      `TLS certificate of ${host} does not match the pinned thumbprint ${policy.thumbprint}; ` +
      `the server presented SHA-256 ${sha256} (SHA-1 ${sha1})`
    );
  }
  if (socket.authorized) return undefined;
  return (
    `TLS certificate of ${host} is not trusted (${String(socket.authorizationError)}). ` +
    `Server thumbprint SHA-256 ${sha256}, SHA-1 ${sha1}. ` +
    `Pin it with thumbprint: "${sha256}" if you trust this server, or set insecure: true to skip verification.`
  );
}

export interface DispatcherOptions extends TlsPolicy {
  /** Idle keep-alive for pooled connections. */
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * A keep-alive undici Agent applying the TLS policy. Also useful for transfers:
 * pass the lease's per-device sslThumbprint to pin an ESXi host.
 */
export function createVsphereDispatcher(options: DispatcherOptions = {}): Agent {
  // No TLS session resumption: a resumed session carries no peer certificate to check.
  const base = buildConnector({
    rejectUnauthorized: false,
    maxCachedSessions: 0,
    timeout: options.connectTimeoutMs ?? 10_000,
  });
  return new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    connect: (opts, callback) => {
      base(opts, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('TLS connect failed'), null);
        if (opts.protocol === 'https:') {
          const problem = verifyPeer(socket as TLSSocket, options, opts.hostname);
          if (problem) {
            socket.destroy();
            return callback(failure(ErrorType.TlsError, problem, true), null);
          }
        }
        callback(null, socket);
      });
    },
  });
}
