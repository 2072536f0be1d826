// hypervisord: the hypersdk daemon. Runs the REST gateway and the export worker
// (or either alone), with an embedded Temporal dev server when no Temporal address
// is configured. Returns an exit code; only bin/hypervisord.js ends the process.
import { Command, CommanderError, Option } from 'commander';
import { isLoopbackAddr } from '../api/auth.js';
import { GatewayTlsError, loadGatewayTls } from '../api/gateway.js';
import { VERSION } from '../api/version.js';
import { isLogLevel, LOG_LEVELS, normaliseLogLevel, type LogLevelName } from '../config/file-schema.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { HyperConfig } from '../config/types.js';
import { missingDaemonSettings } from '../daemon/process-settings.js';
import { startDaemon, type DaemonMode } from '../daemon/run-daemon.js';
import { ExitCode } from './exit-codes.js';
import { GoFlagError, goFlagSpec, normaliseGoFlags } from './go-flags.js';
import { processIo, type CliIo } from './io.js';

interface DaemonOptions {
  config?: string;
  mode: DaemonMode;
  addr?: string;
  logLevel?: string;
  version?: boolean;
  disableWeb?: boolean;
}

const HELP = `
Configuration: a YAML file (-config) plus environment, which wins:
  GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE=1   default vSphere profile
  DAEMON_ADDR         listen address (default localhost:8080)
  TEMPORAL_ADDRESS    Temporal frontend; unset = embedded dev server with a SQLite
                      file in the data directory and the Temporal UI
  HYPERSDK_TEMPORAL_TLS_CA, HYPERSDK_TEMPORAL_TLS_CERT, HYPERSDK_TEMPORAL_TLS_KEY,
  HYPERSDK_TEMPORAL_TLS_SERVER_NAME   TLS/mTLS to a Temporal cluster (PEM file paths;
                      temporal.tls.* in the file); needs TEMPORAL_ADDRESS
  HYPERSDK_TEMPORAL_API_KEY   Temporal Cloud API key (temporal.api_key); implies TLS
  HYPERSDK_API_TOKEN  required when listening beyond loopback
  HYPERSDK_TLS_CERT, HYPERSDK_TLS_KEY
                      PEM certificate and key: the gateway serves HTTPS
  HYPERSDK_ALLOWED_HOSTS, HYPERSDK_ALLOWED_ORIGINS
                      extra Host names (without a token) and browser origins
  HYPERSDK_OUTPUT_ROOTS
                      directories exports may be written under, colon-separated
                      (output.allowed_roots; replaces the default list)
  HYPERSDK_DATA_DIR   state directory (daemon.data_dir)
  LOG_LEVEL, DOWNLOAD_WORKERS, HYPERSDK_SECRETS_KEY, AWS_* (S3 output)
The original daemon's keys (VCenterURL, Username, Password, Insecure, DaemonAddr,
LogLevel, DownloadWorkers, in any spelling) are read too.

Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad flags or configuration.
`;

/** The configuration with the command line's overrides (--addr, --log-level), which win over file and environment. */
export function withFlags(config: HyperConfig, options: Pick<DaemonOptions, 'addr' | 'logLevel'>): HyperConfig {
  return {
    ...config,
    ...(options.addr ? { daemon: { ...config.daemon, addr: options.addr } } : {}),
    ...(options.logLevel !== undefined ? { logLevel: normaliseLogLevel(options.logLevel) as LogLevelName } : {}),
  };
}

/** Resolves when the daemon has shut down (signal) or failed to start. */
export async function runHypervisord(
  args: readonly string[],
  io: CliIo = processIo(),
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  const program = new Command('hypervisord')
    .description('hypersdk daemon: REST gateway + export worker (+ embedded Temporal). Flags take one dash or two.')
    .option('--config <file>', 'YAML configuration file')
    .addOption(new Option('--mode <mode>', 'what to run').choices(['all', 'gateway', 'worker']).default('all'))
    .option('--addr <host:port>', 'gateway listen address (overrides DAEMON_ADDR and the file)')
    .option('--log-level <level>', `${LOG_LEVELS.join(', ')} in any case (overrides LOG_LEVEL and the file)`)
    .option('--disable-web', "the original daemon's switch for its web dashboard; this daemon has none, so it changes nothing (the REST API keeps serving; --mode worker runs without it)")
    .option('--version', 'print the version and exit')
    .addHelpText('after', HELP)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  let options: DaemonOptions;
  try {
    program.parse(normaliseGoFlags(args, goFlagSpec(program)), { from: 'user' });
    options = program.opts<DaemonOptions>();
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? ExitCode.Ok : ExitCode.Usage;
    if (err instanceof GoFlagError) {
      io.err(`hypervisord: ${err.message}\n`);
      return ExitCode.Usage;
    }
    throw err;
  }
  if (options.version) {
    io.out(`hypervisord version ${VERSION}\n`);
    return ExitCode.Ok;
  }
  if (options.logLevel !== undefined && !isLogLevel(options.logLevel)) {
    io.err(`hypervisord: --log-level ${JSON.stringify(options.logLevel)}: give one of ${LOG_LEVELS.join(', ')} (any case)\n`);
    return ExitCode.Usage;
  }
  const log = (line: string) => io.err(`hypervisord: ${line}\n`);
  let loaded;
  try {
    loaded = await loadConfig({ ...(options.config ? { file: options.config } : {}), env: io.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`hypervisord: invalid configuration${options.config ? ` in ${options.config}` : ''}:\n`);
      for (const issue of err.issues) io.err(`  ${issue.key}${issue.line ? ` (line ${issue.line})` : ''}: ${issue.message}\n`);
      return ExitCode.Usage;
    }
    io.err(`hypervisord: cannot read configuration: ${(err as Error).message}\n`);
    return ExitCode.Usage;
  }
  for (const note of loaded.notes) log(`note: ${note}`);
  for (const warning of loaded.warnings) log(`warning: ${warning}`);
  const missing = missingDaemonSettings(process.execArgv, io.env);
  if (missing.length) log(`note: started without ${missing.join(' and ')}, so it holds more memory than it needs (README, Deployment)`);
  const config = withFlags(loaded.config, options);
  log(`log level ${config.logLevel}${options.logLevel !== undefined ? ' (--log-level)' : ''}`);
  // The original turned off only its web dashboard and kept the REST API that
  // hyperctl and hyper2kvm use; turning the gateway off here would break them.
  if (options.disableWeb) log('note: --disable-web: there is no web dashboard to turn off; the REST API serves as usual');

  if (options.mode !== 'worker' && config.daemon.tls) {
    // Checked before anything starts: a wrong path or key is a configuration error.
    try {
      loadGatewayTls(config.daemon.tls);
    } catch (err) {
      if (!(err instanceof GatewayTlsError)) throw err;
      io.err(`hypervisord: invalid configuration: ${err.message}\n`);
      return ExitCode.Usage;
    }
  }
  if (options.mode !== 'worker' && !config.daemon.tls && !isLoopbackAddr(config.daemon.addr)) {
    log(
      `WARNING: the gateway listens on ${config.daemon.addr} over plain HTTP: the API token and vCenter passwords in submits cross the network in clear. Set daemon.tls_cert and daemon.tls_key (HYPERSDK_TLS_CERT, HYPERSDK_TLS_KEY), or keep it behind a TLS-terminating proxy on the same host`,
    );
  }
  let daemon;
  try {
    daemon = await startDaemon(config, options.mode, log);
  } catch (err) {
    io.err(`hypervisord: failed to start: ${(err as Error).message}\n`);
    return ExitCode.Failed;
  }
  log('ready');

  // The original unit's ExecReload sends SIGHUP, whose default action ends the
  // process mid-export; the configuration is read at start, so say that instead.
  const onHangup = () => log('SIGHUP: the configuration is read only at start; restart hypervisord to apply a change (exports keep running)');
  signals.on('SIGHUP', onHangup);
  const stopSignal = new Promise<string>((resolve) => {
    signals.once('SIGINT', () => resolve('SIGINT'));
    signals.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const workerFailed = daemon.workerDone?.then(
    () => 'worker stopped',
    (err: unknown) => `worker failed: ${(err as Error).message}`,
  );
  const reason = await Promise.race([stopSignal, ...(workerFailed ? [workerFailed] : [])]);
  log(`${reason}: shutting down (running transfers commit their progress and resume on restart)`);
  await daemon.stop();
  signals.off('SIGHUP', onHangup);
  log('stopped');
  return reason.startsWith('SIG') ? ExitCode.Ok : ExitCode.Failed;
}
