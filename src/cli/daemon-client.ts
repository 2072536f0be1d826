// HTTP client for the daemon's REST API, shared by hyperctl and hyperexport.
// Failures are typed so that commands can choose the exit code and tell the user
// what to do next.
import { withoutUserinfo } from '../export/redact.js';
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
}

export class DaemonClient {
  readonly url: string;
  constructor(private readonly options: DaemonClientOptions) {
    // fetch refuses URLs with credentials anyway; without them the URL is safe to print.
    this.url = withoutUserinfo(options.url).replace(/\/+$/, '');
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown, contentType = 'application/json'): Promise<T> {
    return this.request<T>('POST', path, typeof body === 'string' ? body : JSON.stringify(body), contentType);
  }

  private async request<T>(method: string, path: string, body?: string, contentType?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (contentType) headers['Content-Type'] = contentType;
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    let res: Response;
    try {
      res = await fetch(this.url + path, { method, headers, body, signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new CliError(
        `cannot reach the daemon at ${this.url} (${reason}); start it with 'hypervisord' or point -daemon / HYPERVISOR_URL at it`,
        ExitCode.Unreachable,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`the daemon at ${this.url} answered ${res.status} with something that is not JSON; is it a hypersdk daemon?`, ExitCode.Failed);
    }
    if (res.status === 401 || res.status === 403) {
      throw new CliError(`the daemon refused the request: ${(parsed as { error?: string }).error ?? res.statusText}; pass -token or set HYPERSDK_API_TOKEN`, ExitCode.Unauthorized);
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
