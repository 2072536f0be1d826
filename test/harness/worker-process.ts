import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HyperConfig } from '../../src/config/types.js';
import { dyingWithParent } from '../../src/devservices/process.js';

const workerMain = fileURLToPath(new URL('../fixtures/worker-main.ts', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnWorkerOptions {
  /** Added to the test runner's environment (e.g. HYPERSDK_WORKER_ID). */
  env?: Record<string, string>;
}

/** Starts an export worker in a child process and waits until it polls. */
export async function spawnWorker(config: HyperConfig, dir: string, name: string, options: SpawnWorkerOptions = {}): Promise<WorkerProcess> {
  const configFile = join(dir, `${name}.json`);
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  // Dies with the test runner even when a timed-out test never reaches its cleanup.
  const child = spawn(...dyingWithParent(process.execPath, ['--import', 'tsx', workerMain, configFile]), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${name} did not start in 60 s:\n${output}`)), 60_000);
    child.stdout.on('data', () => {
      if (output.includes('worker ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited before it was ready:\n${output}`));
    });
  });
  return {
    child,
    output: () => output,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
