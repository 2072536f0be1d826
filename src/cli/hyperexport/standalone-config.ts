// The configuration a standalone run reads: the same loader as the daemon's
// (environment, and a -config file when given), with its errors as usage errors.
import { ConfigError, loadConfig } from '../../config/load.js';
import type { HyperConfig } from '../../config/types.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';

/** Standalone mode has no vCenter to talk to: no GOVC_* variables and no profile in a -config file. */
export class MissingCredentialsError extends CliError {}

export interface StandaloneOptions {
  configFile?: string;
  profile?: string;
  env: NodeJS.ProcessEnv;
  /** Progress notes for the user ("starting Temporal..."); silent in -json mode. */
  note(text: string): void;
}

export async function loadStandaloneConfig(options: Pick<StandaloneOptions, 'configFile' | 'env'>): Promise<HyperConfig> {
  try {
    // No secrets key is written: a standalone run keeps nothing for later.
    return (await loadConfig({ ...(options.configFile ? { file: options.configFile } : {}), env: options.env, persistSecretsKey: false })).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`the configuration is not valid:\n${err.message}`, ExitCode.Usage);
    throw err;
  }
}
