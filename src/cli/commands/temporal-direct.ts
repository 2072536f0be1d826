// describe and history read Temporal directly (not through the daemon): useful
// when the daemon is down, and they show what the REST view leaves out. They reach
// Temporal as the daemon does: the Temporal settings of its configuration (-config
// and/or environment: TLS client certificate, API key), -temporal/-namespace on top.
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.js';
import { connectTemporal, TemporalConnectionError } from '../../temporal/connection.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export interface TemporalOptions {
  config?: string;
  temporal?: string;
  namespace?: string;
  json?: boolean;
}

export function withTemporalOptions(command: Command): Command {
  return command
    .option('--temporal <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS, default localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--config <file>', "the daemon's YAML configuration: its temporal section (address, tls, api_key) is used")
    .option('--json', 'machine-readable JSON output');
}

export async function withTemporal<T>(options: TemporalOptions, io: CliIo, fn: (client: Client) => Promise<T>): Promise<T> {
  // Loaded lazily: the other commands should not pay for the gRPC client.
  const { Client, Connection } = await import('@temporalio/client');
  // -temporal counts as TEMPORAL_ADDRESS: TLS settings with no address at all are a configuration error.
  const env = { ...io.env, ...(options.temporal ? { TEMPORAL_ADDRESS: options.temporal } : {}), ...(options.namespace ? { TEMPORAL_NAMESPACE: options.namespace } : {}) };
  let temporal;
  try {
    temporal = (await loadConfig({ ...(options.config ? { file: options.config } : {}), env, persistSecretsKey: false })).config.temporal;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`invalid configuration:\n${err.issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}`, ExitCode.Usage);
    throw err;
  }
  const address = temporal.address ?? 'localhost:7233';
  let connection;
  try {
    connection = await connectTemporal({ ...temporal, address }, (o) => Connection.connect({ ...o, connectTimeout: 5_000 }));
  } catch (err) {
    const reason = err instanceof TemporalConnectionError ? err.message.replace(/^temporal: /, '') : `cannot reach Temporal at ${address} (${(err as Error).message})`;
    throw new CliError(`${reason}; pass -temporal <host:port> or set TEMPORAL_ADDRESS (TLS: -config or HYPERSDK_TEMPORAL_TLS_*)`, ExitCode.Unreachable);
  }
  try {
    return await fn(new Client({ connection, namespace: temporal.namespace }));
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw new CliError(`no export workflow with that id: ${(err as Error).message}`, ExitCode.Failed);
    throw err;
  } finally {
    await connection.close();
  }
}
