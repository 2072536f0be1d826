// describe and history read Temporal directly (not through the daemon): useful
// when the daemon is down, and they show what the REST view leaves out.
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export interface TemporalOptions {
  temporal?: string;
  namespace?: string;
  json?: boolean;
}

export function withTemporalOptions(command: Command): Command {
  return command
    .option('--temporal <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS, default localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--json', 'machine-readable JSON output');
}

export async function withTemporal<T>(options: TemporalOptions, io: CliIo, fn: (client: Client) => Promise<T>): Promise<T> {
  // Loaded lazily: the other commands should not pay for the gRPC client.
  const { Client, Connection } = await import('@temporalio/client');
  const address = options.temporal ?? io.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  let connection;
  try {
    connection = await Connection.connect({ address, connectTimeout: 5_000 });
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${address} (${(err as Error).message}); pass -temporal <host:port> or set TEMPORAL_ADDRESS`, ExitCode.Unreachable);
  }
  try {
    return await fn(new Client({ connection, namespace: options.namespace ?? io.env.TEMPORAL_NAMESPACE ?? 'default' }));
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw new CliError(`no export workflow with that id: ${(err as Error).message}`, ExitCode.Failed);
    throw err;
  } finally {
    await connection.close();
  }
}
