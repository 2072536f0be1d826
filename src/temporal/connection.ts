// How every process reaches Temporal: the gateway's client, the worker's native
// connection, hyperctl's direct commands and hyperexport -standalone all build their
// connection options here, so TLS (server CA, client certificate for mTLS, server
// name) and the API key (Temporal Cloud) mean the same thing everywhere.
//
// No SDK runtime import here: callers pass the SDK's connect function
// (Connection.connect or NativeConnection.connect), which keeps the gRPC client out
// of the CLI commands that never talk to Temporal.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as NodeTlsOptions } from 'node:tls';

/** temporal.tls: PEM file paths. Setting any of them turns TLS on. */
export interface TemporalTlsSettings {
  /** CA that signed the server's certificate; unset = the system's roots. */
  caCert?: string;
  /** Client certificate (mTLS); only with clientKey. */
  clientCert?: string;
  clientKey?: string;
  /** Name to verify the server's certificate against (and send as SNI), when it is not the address's host. */
  serverName?: string;
}

export interface TemporalConnectionSettings {
  /** host:port of the frontend. */
  address?: string;
  tls?: TemporalTlsSettings;
  /** Sent as `authorization: Bearer <key>` on every call; implies TLS. A secret: never logged. */
  apiKey?: string;
}

/** What both Connection.connect (client) and NativeConnection.connect (worker) take. */
export interface TemporalConnectOptions {
  address: string;
  tls?: {
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
    serverNameOverride?: string;
  };
  apiKey?: string;
}

/** Config key, environment variable and the settings field of each TLS file. */
export const TLS_FILE_KEYS = [
  { field: 'caCert', key: 'temporal.tls.ca_cert', env: 'HYPERSDK_TEMPORAL_TLS_CA' },
  { field: 'clientCert', key: 'temporal.tls.client_cert', env: 'HYPERSDK_TEMPORAL_TLS_CERT' },
  { field: 'clientKey', key: 'temporal.tls.client_key', env: 'HYPERSDK_TEMPORAL_TLS_KEY' },
] as const;

const SERVER_NAME_KEY = 'temporal.tls.server_name (HYPERSDK_TEMPORAL_TLS_SERVER_NAME)';

/** A Temporal connection that could not be made, explained; the message is meant for the operator as is. */
export class TemporalConnectionError extends Error {
  override name = 'TemporalConnectionError';
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

export function tlsEnabled(settings: TemporalConnectionSettings): boolean {
  const t = settings.tls;
  return Boolean(settings.apiKey || t?.caCert || t?.clientCert || t?.clientKey || t?.serverName);
}

/** Why `path` cannot serve as a PEM file ("cannot read /x (ENOENT)"), or its content. Never shows the content. */
export function readPem(path: string): { data: Buffer } | { problem: string } {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    return {
      problem: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    };
  }
  if (!data.includes('-----BEGIN ')) return { problem: `${path} is not a PEM file (no "-----BEGIN" line)` };
  return { data };
}

function readPemFile(key: string, path: string): Buffer {
  const read = readPem(path);
  if ('problem' in read) throw new TemporalConnectionError(`${key}: ${read.problem}`);
  return read.data;
}

/** The one place connection options are built from the configuration. */
export function temporalConnectOptions(settings: TemporalConnectionSettings): TemporalConnectOptions {
  const address = settings.address ?? DEFAULT_TEMPORAL_ADDRESS;
  const t = settings.tls ?? {};
  if (Boolean(t.clientCert) !== Boolean(t.clientKey)) {
    throw new TemporalConnectionError(
      `temporal.tls.client_cert and temporal.tls.client_key go together: ${t.clientCert ? 'client_key' : 'client_cert'} is missing`,
    );
  }
  const options: TemporalConnectOptions = { address };
  if (tlsEnabled(settings)) {
    options.tls = {
      ...(t.caCert ? { serverRootCACertificate: readPemFile(TLS_FILE_KEYS[0].key, t.caCert) } : {}),
      ...(t.clientCert && t.clientKey
        ? {
            clientCertPair: {
              crt: readPemFile(TLS_FILE_KEYS[1].key, t.clientCert),
              key: readPemFile(TLS_FILE_KEYS[2].key, t.clientKey),
            },
          }
        : {}),
      ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
    };
  }
  if (settings.apiKey) options.apiKey = settings.apiKey;
  return options;
}

/**
 * Connects with `connect` (the SDK's Connection.connect or NativeConnection.connect)
 * and turns a failure into a TemporalConnectionError that says what went wrong:
 * the SDK's own errors ("Failed to connect before the deadline", a tonic transport
 * error) do not tell a refused client certificate from an unknown CA or a server
 * that speaks no TLS, so a failed connection is followed by a TLS handshake of our
 * own with the same certificates, which does.
 */
export async function connectTemporal<C>(
  settings: TemporalConnectionSettings,
  connect: (options: TemporalConnectOptions) => Promise<C>,
  probeTimeoutMs = 3_000,
): Promise<C> {
  const options = temporalConnectOptions(settings);
  try {
    return await connect(options);
  } catch (err) {
    throw await explainConnectFailure(options, err, probeTimeoutMs);
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: address, port: 7233 };
}

/** Why a TLS handshake (plus the first bytes read after it) with the server failed; undefined when it did not. */
export type ProbeResult = { ok: true } | { ok: false; reason: string; code?: string } | { ok: 'unknown' };

// The HTTP/2 client preface and an empty SETTINGS frame: under TLS 1.3 a server
// judges the client certificate after the handshake, and its verdict (an alert) only
// reaches a client that reads, so the probe speaks first and waits for an answer.
const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

/** "80EC...:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/..." → "tlsv1 alert unknown ca". */
function opensslReason(message: string): string {
  const line = message.split('\n')[0]!.trim();
  return /SSL routines:[^:]*:([^:]+)/.exec(line)?.[1] ?? line;
}

export function probeTls(address: string, tls: NodeTlsOptions, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    let settled = false;
    let handshook = false;
    const done = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const socket = tlsConnect({
      host,
      port,
      ALPNProtocols: ['h2'],
      ...(isIP(host) ? {} : { servername: host }),
      ...tls,
    });
    const timer = setTimeout(() => done({ ok: 'unknown' }), timeoutMs);
    socket.once('secureConnect', () => {
      handshook = true;
      socket.write(H2_PREFACE);
    });
    socket.once('data', () => done({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ ok: false, reason: opensslReason(err.message), ...(err.code ? { code: err.code } : {}) }),
    );
    const closed = () =>
      done({
        ok: false,
        reason: handshook
          ? 'the server closed the connection right after the handshake'
          : 'the server closed the connection during the handshake',
      });
    socket.once('end', closed);
    socket.once('close', closed);
  });
}

const NETWORK_CODES = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT)$/;

// grpc-js names the status ("16 UNAUTHENTICATED"), the native core describes it.
const UNAUTHENTICATED =
  /UNAUTHENTICATED|PERMISSION_DENIED|valid authentication credentials|does not have permission/;

const CLIENT_CERT_HINT =
  'check temporal.tls.client_cert and client_key (HYPERSDK_TEMPORAL_TLS_CERT, HYPERSDK_TEMPORAL_TLS_KEY)';
const CA_HINT = 'check temporal.tls.ca_cert (HYPERSDK_TEMPORAL_TLS_CA)';

/** Which setting to look at, from the probe's failure. */
function hintFor(result: { reason: string; code?: string }, options: TemporalConnectOptions): string {
  const r = result.reason.toLowerCase();
  const code = result.code ?? '';
  if (/wrong version number|packet length too long|unknown protocol|http request/.test(r)) {
    return 'the server does not seem to speak TLS; check temporal.address, or unset temporal.tls and temporal.api_key';
  }
  if (
    /certificate required/.test(r) ||
    (!options.tls?.clientCertPair && /closed the connection|alert|econnreset|socket hang up/.test(r))
  ) {
    return `the server asks for a client certificate and none was sent: ${CLIENT_CERT_HINT}`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the server's certificate is not for this name; check temporal.address or ${SERVER_NAME_KEY}`;
  // Node's verification codes (SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, CERT_HAS_EXPIRED...), not OpenSSL's alerts (ERR_SSL_*).
  if (!code.startsWith('ERR_') && /CERT|ISSUER|SIGNATURE/.test(code))
    return `the server's certificate is not trusted: ${CA_HINT}`;
  if (
    /unknown ca|bad certificate|certificate unknown|unsupported certificate|access denied|decrypt error|handshake failure|closed the connection|econnreset|socket hang up/.test(
      r,
    )
  ) {
    return `the server refused the client certificate: ${CLIENT_CERT_HINT}`;
  }
  return `${CA_HINT}, ${CLIENT_CERT_HINT}`;
}

/** Explains a failed connect; exported for tests. */
export async function explainConnectFailure(
  options: TemporalConnectOptions,
  err: unknown,
  probeTimeoutMs: number,
): Promise<TemporalConnectionError> {
  // The client wraps the gRPC error ("Failed to connect to Temporal server", cause "16 UNAUTHENTICATED: ...").
  const cause = (err as { cause?: unknown })?.cause;
  const original =
    [err, cause]
      .filter((e): e is Error => e instanceof Error)
      .map((e) => e.message.split('\n')[0]!)
      .join(': ') || String(err);
  const address = options.address;
  let probed: ProbeResult = { ok: 'unknown' };
  try {
    const t = options.tls;
    probed = await probeTls(
      address,
      t
        ? {
            ...(t.serverRootCACertificate ? { ca: t.serverRootCACertificate } : {}),
            ...(t.clientCertPair ? { cert: t.clientCertPair.crt, key: t.clientCertPair.key } : {}),
            ...(t.serverNameOverride ? { servername: t.serverNameOverride } : {}),
          }
        : // Plain gRPC to a server that wants TLS fails without a word: ask it for a handshake.
          { rejectUnauthorized: false },
      probeTimeoutMs,
    );
  } catch {
    // The probe only adds an explanation; the original error stands without it.
  }
  if (probed.ok === false && NETWORK_CODES.test(probed.code ?? '')) {
    // grpc-js says only "Failed to connect before the deadline"; the socket error says why.
    return new TemporalConnectionError(`temporal: cannot connect to ${address}: ${probed.reason}`);
  }
  if (options.tls) {
    if (probed.ok === false) {
      return new TemporalConnectionError(
        `temporal: TLS handshake with ${address} failed: ${probed.reason} (${hintFor(probed, options)})`,
      );
    }
  } else if (probed.ok === true || (probed.ok === false && /alert/.test(probed.reason))) {
    return new TemporalConnectionError(
      `temporal: cannot connect to ${address}: the server speaks TLS and temporal.tls is not set (set temporal.tls.ca_cert, client_cert and client_key, or temporal.api_key for Temporal Cloud)`,
    );
  }
  const hint = UNAUTHENTICATED.test(original)
    ? ` (check temporal.api_key (HYPERSDK_TEMPORAL_API_KEY)${options.tls?.clientCertPair ? ' and temporal.tls.client_cert' : ''})`
    : '';
  return new TemporalConnectionError(`temporal: cannot connect to ${address}: ${original}${hint}`);
}
