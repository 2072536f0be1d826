// Runs one of the project's command-line tools (bin/<tool>.js) as scripts and
// hyper2kvm do: a child process with stdin closed and its output captured,
// bounded by a timeout. The environment is the caller's whole choice.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type Tool = 'hyperctl' | 'hypervisord' | 'hyperexport';

export interface BinRun {
  /** The exit code; -1 when the timeout or a signal ended the process. */
  code: number;
  stdout: string;
  stderr: string;
}

export function binPath(tool: Tool): string {
  return fileURLToPath(new URL(`../../bin/${tool}.js`, import.meta.url));
}

export function runBin(tool: Tool, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<BinRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [binPath(tool), ...args], { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}
