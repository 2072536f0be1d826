// HTTP client for the daemon's REST API, shared by hyperctl and hyperexport.
// Failures are typed so that commands can choose the exit code and tell the user
// what to do next.
import { Agent, fetch as undiciFetch } from 'undici';
import { withoutUserinfo } from '../core/redact.js';
import { ExitCode } from './exit-codes.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export interface DaemonClientOptions {
  url: string;
  token?: string;
  timeoutMs?: number;
  /** PEM CA certificate(s) to trust for an https:// daemon, besides the system's (and NODE_EXTRA_CA_CERTS). */
  ca?: Buffer;
}

/** Certificate verification failures reported by Node's TLS (the error's code). */
const CERT_ERROR = /CERT|SIGNATURE|ISSUER|ALTNAME/;

/** One sentence for a failed connection: what happened and what to change. */
function unreachableMessage(url: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  const reason = cause?.code ?? (err as Error).message;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the daemon at ${url} presented a TLS certificate for another name (${cause?.message ?? code}); use a -daemon URL with a name the certificate holds`;
  }
  if (CERT_ERROR.test(code)) {
    return `the daemon at ${url} presented a TLS certificate this client does not trust (${code}); pass -ca <file> or set HYPERSDK_CA_CERT to the PEM certificate of the CA that signed it`;
  }
  if (url.startsWith('https:') && (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(cause?.message ?? ''))) {
    return `cannot speak TLS with the daemon at ${url} (${code}); it may serve plain HTTP: use an http:// URL`;
  }
  const plainToTls = url.startsWith('http:') && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') ? '; if the daemon serves HTTPS (daemon.tls_cert), use an https:// URL' : '';
  return `cannot reach the daemon at ${url} (${reason}); start it with 'hypervisord' or point -daemon / HYPERVISOR_URL at it${plainToTls}`;
}

export class DaemonClient {
  readonly url: string;
  private readonly dispatcher: Agent | undefined;
  constructor(private readonly options: DaemonClientOptions) {
    // fetch refuses URLs with credentials anyway; without them the URL is safe to print.
    this.url = withoutUserinfo(options.url).replace(/\/+$/, '');
    this.dispatcher = options.ca ? new Agent({ connect: { ca: options.ca } }) : undefined;
  }

  get<T>(path: string, timeoutMs?: number): Promise<T> {
    return this.request<T>('GET', path, undefined, undefined, timeoutMs);
  }

  /** `timeoutMs`: this request's own deadline, for calls the daemon answers only when done (VM operations). */
  post<T>(path: string, body: unknown, contentType = 'application/json', timeoutMs?: number): Promise<T> {
    return this.request<T>('POST', path, typeof body === 'string' ? body : JSON.stringify(body), contentType, timeoutMs);
  }

  private async request<T>(method: string, path: string, body?: string, contentType?: string, timeoutMs = this.options.timeoutMs ?? 30_000): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (contentType) headers['Content-Type'] = contentType;
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    let res: Response;
    try {
      const init = { method, headers, body, signal: AbortSignal.timeout(timeoutMs) };
      // undici's own fetch takes its own Agent (the CA); the global fetch is kept otherwise.
      res = this.dispatcher ? await undiciFetch(this.url + path, { ...init, dispatcher: this.dispatcher }) : await fetch(this.url + path, init);
    } catch (err) {
      throw new CliError(unreachableMessage(this.url, err), ExitCode.Unreachable);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`the daemon at ${this.url} answered ${res.status} with something that is not JSON; is it a hypersdk daemon?`, ExitCode.Failed);
    }
    if (res.status === 401) {
      throw new CliError(`the daemon refused the request: ${(parsed as { error?: string }).error ?? res.statusText}; pass -token or set HYPERSDK_API_TOKEN`, ExitCode.Unauthorized);
    }
    if (res.status === 403) {
      // The gateway says which setting allows the request (Host, Origin).
      throw new CliError(`the daemon refused the request: ${(parsed as { error?: string }).error ?? res.statusText}`, ExitCode.Unauthorized);
    }
    if (!res.ok) {
      const error = new CliError((parsed as { error?: string }).error ?? `HTTP ${res.status}`, ExitCode.Failed);
      (error as CliError & { body?: unknown }).body = parsed;
      throw error;
    }
    return parsed as T;
  }
}

/** One VM as GET /vms/list returns it. */
export interface VmRow {
  name: string;
  path: string;
  power_state: string;
  guest_os: string;
  memory_mb: number;
  num_cpu: number;
  storage_bytes: number;
}
