// Starting and stopping the helper servers (Temporal dev server, vcsim, MinIO,
// toxiproxy) that the tests, the benchmarks, the demo and hypervisord's embedded
// mode run on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { childEnvironment } from '../core/child-env.js';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Size of the log when this process was launched: what it wrote starts there (logs are appended to). */
  readonly logStart: number;
  /** True once the process has exited (for whatever reason). */
  readonly exited: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface LaunchOptions {
  args: string[];
  logFile: string;
  /** The child's whole environment; default: a minimal one (childEnvironment), never this process's. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

// On Linux, `setpriv --pdeathsig KILL` makes the kernel kill the server when the
// process that launched it dies, even by SIGKILL: no orphaned servers after an
// interrupted test run.
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => process.platform === 'linux' && existsSync(p));

/** The command line that runs `binary` so that it dies with this process (where the platform allows). */
export function dyingWithParent(binary: string, args: readonly string[]): [string, string[]] {
  return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, [...args]];
}

export function launch(name: string, binary: string, options: LaunchOptions): ManagedProcess {
  const [command, args] = dyingWithParent(binary, options.args);
  const logStart = existsSync(options.logFile) ? statSync(options.logFile).size : 0;
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(command, args, {
    env: options.env ?? childEnvironment(),
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so stop() reaches anything it forks
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      log.write(`spawn error: ${err.message}\n`);
      exited = true;
      resolve();
    });
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${binary}`);
  const pid = child.pid;
  return {
    name,
    pid,
    logFile: options.logFile,
    logStart,
    get exited() {
      return exited;
    },
    async stop(graceMs = 5_000) {
      if (exited) return;
      signalGroup(pid, 'SIGTERM');
      const killed = await Promise.race([exit.then(() => true), sleep(graceMs).then(() => false)]);
      if (!killed) signalGroup(pid, 'SIGKILL');
      await exit;
      log.end();
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Polls `probe` until it returns a value, the process dies, or `timeoutMs` passes.
 * The error carries the tail of the server's log, which is what one needs to see.
 */
export async function waitUntilReady<T>(
  proc: ManagedProcess,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lostPort = false;
  while (Date.now() < deadline) {
    if (proc.exited) break;
    try {
      const value = await probe();
      // Another server answering on the port while ours has died (it lost the port) is no success.
      if (value !== undefined && !proc.exited) return value;
    } catch (err) {
      lastError = err;
    }
    // Some servers (toxiproxy) log a failed bind and live on; the probe would
    // then talk to whoever holds the port until the deadline.
    if (PORT_TAKEN.test(logSince(proc))) {
      lostPort = true;
      break;
    }
    await sleep(100);
  }
  const why = lostPort
    ? 'lost its port to another process (address already in use)'
    : proc.exited
      ? 'exited before it was ready'
      : `was not ready after ${timeoutMs} ms`;
  await proc.stop();
  const detail = lastError instanceof Error ? ` (last probe error: ${lastError.message})` : '';
  throw new Error(`${proc.name} ${why}${detail}. Log tail (${proc.logFile}):\n${logTail(proc.logFile)}`);
}

/** How servers (Go's net, Node's listen) say their port was taken. */
const PORT_TAKEN = /address already in use|EADDRINUSE/i;

/** The last 64 KiB this process wrote to its log. */
function logSince(proc: ManagedProcess): string {
  let fd: number | undefined;
  try {
    fd = openSync(proc.logFile, 'r');
    const size = statSync(proc.logFile).size;
    const start = Math.max(proc.logStart, size - 65_536);
    const buffer = Buffer.alloc(Math.max(0, size - start));
    const read = readSync(fd, buffer, 0, buffer.length, start);
    return buffer.subarray(0, read).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
