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
    .option('--daemon <url>', `daemon URL (env HYPERVISOR_URL, default ${DEFAULT_DAEMON_URL})`)
    .option('--token <token>', 'API token (env HYPERSDK_API_TOKEN)')
    .option('--ca <file>', 'PEM CA certificate to trust for an https:// daemon (env HYPERSDK_CA_CERT)')
    .option('--json', 'machine-readable JSON output');
}

export function daemonClient(options: CommonOptions, io: CliIo): DaemonClient {
  const url = options.daemon ?? io.env.HYPERVISOR_URL ?? io.env.HYPERSDK_DAEMON_URL ?? DEFAULT_DAEMON_URL;
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
