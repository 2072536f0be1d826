// Options every hyperctl command takes, and the context commands run in.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError, DaemonClient } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const DEFAULT_DAEMON_URL = 'http://localhost:8080';

export interface CommonOptions {
  daemon?: string;
  token?: string;
  ca?: string;
  json?: boolean;
}

export interface CommandContext {
  io: CliIo;
  /** Set by the command; hyperctl returns it to bin/hyperctl.js. */
  setExitCode(code: ExitCode): void;
}

export function withCommonOptions(command: Command): Command {
  return command
    .option('--daemon <url>', `daemon URL (env ${DAEMON_URL_ENV.join(', ')} or DAEMON_ADDR; default ${DEFAULT_DAEMON_URL})`)
    .option('--token <token>', 'API token (env HYPERSDK_API_TOKEN)')
    .option('--ca <file>', 'PEM CA certificate to trust for an https:// daemon (env HYPERSDK_CA_CERT)')
    .option('--json', 'machine-readable JSON output');
}

/**
 * Variables that hold the daemon's URL, first found wins: ours, hyper2kvm's
 * (HYPERVISORD_URL, which it reads for itself and never passes to hyperctl), then
 * the longer name of ours. DAEMON_ADDR, the daemon's own listen address, comes last.
 */
export const DAEMON_URL_ENV = ['HYPERVISOR_URL', 'HYPERVISORD_URL', 'HYPERSDK_DAEMON_URL'] as const;

/** The daemon URL the environment gives (the variables above, then DAEMON_ADDR as host:port), and which variable gave it. */
export function daemonUrlFromEnv(env: NodeJS.ProcessEnv): { url: string; source: string } | undefined {
  for (const name of DAEMON_URL_ENV) {
    const value = env[name]?.trim();
    if (value) return { url: withScheme(value), source: name };
  }
  const addr = env.DAEMON_ADDR?.trim();
  if (addr) return { url: withScheme(reachableAddr(addr)), source: 'DAEMON_ADDR' };
  return undefined;
}

/** The daemon URL: -daemon, then the environment, then the default. */
export function resolveDaemonUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return withScheme(flag);
  return daemonUrlFromEnv(env)?.url ?? DEFAULT_DAEMON_URL;
}

/** A bare host:port (what DAEMON_ADDR and Go habits give) is an http:// URL. */
function withScheme(url: string): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) ? url : `http://${url}`;
}

/** A listen address that names every interface is reached through loopback. */
function reachableAddr(addr: string): string {
  const match = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(addr);
  if (!match) return addr;
  const host = match[1]!;
  if (host === '' || host === '0.0.0.0') return `localhost:${match[2]!}`;
  if (host === '[::]') return `[::1]:${match[2]!}`;
  return addr;
}

export function daemonClient(options: CommonOptions, io: CliIo): DaemonClient {
  const url = resolveDaemonUrl(options.daemon, io.env);
  const token = options.token ?? io.env.HYPERSDK_API_TOKEN;
  const caFile = options.ca ?? io.env.HYPERSDK_CA_CERT;
  const ca = caFile ? readCa(caFile, options.ca ? '-ca' : 'HYPERSDK_CA_CERT') : undefined;
  return new DaemonClient({ url, ...(token ? { token } : {}), ...(ca ? { ca } : {}) });
}

function readCa(file: string, source: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new CliError(
      `${source} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      ExitCode.Usage,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new CliError(`${source} ${file}: holds no PEM certificate`, ExitCode.Usage);
  return pem;
}

export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
