import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { childEnvironment } from '../core/child-env.js';
import { probeStatus } from './http-probe.js';
import { launch, waitUntilReady, type ManagedProcess } from './process.js';
import { freePort, retryOnPortClash } from './ports.js';
import { projectRoot } from './tools.js';

/**
 * The patches src/devservices/moto_patches.py applies to moto's EBS direct API, each
 * where moto departs from what AWS documents (the file says how, patch by patch).
 */
export const MOTO_PATCHES = ['block-size', 'block-pages', 'changed-blocks', 'ec2-snapshots'] as const;
export type MotoPatch = (typeof MOTO_PATCHES)[number];

export interface Moto {
  /** http://127.0.0.1:<port>: one endpoint for every AWS service moto serves (EC2 and EBS here). */
  readonly endpoint: string;
  readonly region: string;
  /** The patches this server runs with (none: moto as released). */
  readonly patches: readonly MotoPatch[];
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export interface MotoOptions {
  workDir: string;
  /** Patches to leave out, to show moto's own behaviour; 'all' for moto as released. */
  without?: readonly MotoPatch[] | 'all';
  /** Lifetime of the block tokens the patched lists issue (default: an hour). */
  blockTokenSeconds?: number;
  /** A fault for tests: the first N GetSnapshotBlock answers carry their block with one byte flipped (and the true checksum). */
  corruptBlockReads?: number;
}

/** The interpreter of the virtualenv scripts/install-moto.sh makes. */
export function motoPython(): string {
  const path = join(projectRoot, '.tools', 'venv-moto', 'bin', 'python');
  if (!existsSync(path)) {
    throw new Error(`moto is not installed (looked for ${path}). Run 'npm run tools' to install it.`);
  }
  return path;
}

/**
 * Starts moto in server mode on 127.0.0.1, through the launcher that patches it first.
 * moto keeps everything in memory and checks no signature: any credentials do.
 */
export function startMoto(options: MotoOptions): Promise<Moto> {
  return retryOnPortClash(() => startMotoOnce(options));
}

async function startMotoOnce(options: MotoOptions): Promise<Moto> {
  const without = options.without ?? [];
  const patches = without === 'all' ? [] : MOTO_PATCHES.filter((p) => !without.includes(p));
  const port = await freePort();
  const args = [
    join(projectRoot, 'src', 'devservices', 'moto_launcher.py'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
  ];
  args.push('--without', without === 'all' ? 'all' : without.join(','));
  if (options.blockTokenSeconds !== undefined)
    args.push('--block-token-seconds', String(options.blockTokenSeconds));
  if (options.corruptBlockReads) args.push('--corrupt-block-reads', String(options.corruptBlockReads));
  const proc = launch('moto', motoPython(), {
    args,
    // Unbuffered, so the log is current when a test fails; no bytecode written into src/.
    env: childEnvironment({ PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' }),
    logFile: join(options.workDir, `moto-${port}.log`),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  // moto's own API answers once the server listens; it loads no AWS service to do so.
  await waitUntilReady(proc, async () =>
    (await probeStatus(`${endpoint}/moto-api/config`)) < 500 ? true : undefined,
  );
  return { endpoint, region: 'us-east-1', patches, process: proc, stop: () => proc.stop() };
}
