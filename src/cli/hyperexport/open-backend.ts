// Which backend a run uses. The original hyperexport exported by itself and used
// a daemon only when asked; here the daemon comes first (its jobs survive this
// process and show in hyperctl), and when none answers at the daemon URL the
// export runs in this process instead, as the original did. An explicit -daemon
// URL is a promise that a daemon is there: if it does not answer, that is an
// error, not a reason to export somewhere else.
import { resolveDaemonUrl } from '../commands/shared.js';
import { CliError, DaemonClient } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import type { CloudSourceFlags, ExportBackend } from './backend.js';
import { DaemonBackend } from './daemon-backend.js';
import { probeDaemon } from './daemon-probe.js';

export interface BackendChoice {
  daemon?: string;
  token?: string;
  standalone?: boolean;
  /** The original's -use-daemon: through the daemon or not at all (no fallback to this process). */
  useDaemon?: boolean;
  config?: string;
  profile?: string;
  /** -provider aws or azure: the cloud a daemon, or this process with its own credentials, reads. */
  cloud?: CloudSourceFlags;
  /** No notes on stderr ("starting Temporal..."): -json and -quiet. */
  silent: boolean;
}

async function openStandalone(choice: BackendChoice, io: CliIo): Promise<ExportBackend> {
  const options = {
    ...(choice.config ? { configFile: choice.config } : {}),
    ...(choice.profile ? { profile: choice.profile } : {}),
    env: io.env,
    note: (text: string) => {
      if (!choice.silent) io.err(text);
    },
  };
  // Loaded on demand: the Temporal worker and the providers are heavy, and daemon mode needs neither.
  if (choice.cloud) {
    const { CloudStandaloneBackend } = await import('./standalone-cloud-backend.js');
    return CloudStandaloneBackend.open(choice.cloud, options);
  }
  const { StandaloneBackend } = await import('./standalone-backend.js');
  return StandaloneBackend.open(options);
}

export async function openBackend(choice: BackendChoice, io: CliIo): Promise<ExportBackend> {
  if (choice.standalone) return openStandalone(choice, io);
  const url = resolveDaemonUrl(choice.daemon, io.env);
  const token = choice.token ?? io.env.HYPERSDK_API_TOKEN;
  const daemon = new DaemonBackend(new DaemonClient({ url, ...(token ? { token } : {}) }), choice.profile, choice.cloud);
  if (choice.daemon !== undefined || choice.useDaemon) return daemon;

  const probe = await probeDaemon(daemon.url);
  if (probe.reachable) return daemon;
  const { MissingCredentialsError } = await import('./standalone-config.js');
  let standalone: ExportBackend;
  try {
    standalone = await openStandalone(choice, io);
  } catch (err) {
    if (err instanceof MissingCredentialsError) {
      throw new CliError(
        `no daemon at ${daemon.url} (${probe.reason}), and no vCenter credentials to export without one: set GOVC_URL, GOVC_USERNAME and GOVC_PASSWORD (GOVC_INSECURE=1 for a self-signed certificate), or start 'hypervisord'`,
        ExitCode.Unreachable,
      );
    }
    throw err;
  }
  // One line, even with -quiet: it says where the export runs and why.
  io.err(`hyperexport: no daemon at ${daemon.url} (${probe.reason}); exporting here (standalone)\n`);
  return standalone;
}
