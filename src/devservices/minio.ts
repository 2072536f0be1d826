import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { childEnvironment } from '../core/child-env.js';
import { probeStatus } from './http-probe.js';
import { launch, waitUntilReady, type ManagedProcess } from './process.js';
import { freePort, retryOnPortClash } from './ports.js';
import { toolPath } from './tools.js';

export interface Minio {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts a MinIO server on 127.0.0.1 with per-run random root credentials. */
export function startMinio(options: { workDir: string }): Promise<Minio> {
  return retryOnPortClash(() => startMinioOnce(options));
}

async function startMinioOnce(options: { workDir: string }): Promise<Minio> {
  const port = await freePort();
  const consolePort = await freePort();
  const dataDir = join(options.workDir, 'minio-data');
  mkdirSync(dataDir, { recursive: true });
  const accessKeyId = `hyper${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const proc = launch('minio', toolPath('minio'), {
    args: ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    env: childEnvironment({
      MINIO_ROOT_USER: accessKeyId,
      MINIO_ROOT_PASSWORD: secretAccessKey,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CI_CD: '1',
    }),
    logFile: join(options.workDir, 'minio.log'),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilReady(proc, async () =>
    (await probeStatus(`${endpoint}/minio/health/ready`)) === 200 ? true : undefined,
  );
  return { endpoint, accessKeyId, secretAccessKey, region: 'us-east-1', process: proc, stop: () => proc.stop() };
}
