// worker.identity and worker.lost_timeout_seconds: the keys that pin a local export
// to one machine. A bad identity would become a bad task queue name, so it must be
// refused at load time with the key (and the line or variable) to fix.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveWorkerIdentity } from './load.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hypersdk-worker-config-'));
}

/** A config file with the given `worker:` lines; the first worker key is on line 4. */
function workerYaml(dir: string, workerLines: string[]): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, [`daemon:`, `  data_dir: ${dir}`, `worker:`, ...workerLines.map((l) => `  ${l}`), ''].join('\n'));
  return file;
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('worker.identity', () => {
  it('defaults to the host name, and the lost timeout to 600 s', async () => {
    const dir = tempDir();
    const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.worker.identity).toBe(hostname());
    expect(config.worker.lostTimeoutMs).toBe(600_000);
  });

  it('reads both keys from the file', async () => {
    const dir = tempDir();
    const file = workerYaml(dir, ['identity: esx-export-01', 'lost_timeout_seconds: 45']);
    const { config, warnings } = await loadConfig({ file, env: {} });
    expect(config.worker.identity).toBe('esx-export-01');
    expect(config.worker.lostTimeoutMs).toBe(45_000);
    expect(warnings).toEqual([]);
  });

  it('lets HYPERSDK_WORKER_ID override the file', async () => {
    const dir = tempDir();
    const file = workerYaml(dir, ['identity: from-file']);
    const { config } = await loadConfig({ file, env: { HYPERSDK_WORKER_ID: 'from-env' } });
    expect(config.worker.identity).toBe('from-env');
  });

  it.each([
    { value: '""', message: 'must not be empty' },
    { value: '"two words"', message: 'must not contain whitespace' },
    { value: '"tab\\there"', message: 'must not contain whitespace' },
    { value: 'x'.repeat(101), message: 'must be at most 100 characters' },
  ])('refuses identity $value with the key and the line', async ({ value, message }) => {
    const dir = tempDir();
    const file = workerYaml(dir, ['max_concurrent_transfers: 2', `identity: ${value}`]);
    const err = await configError(loadConfig({ file, env: {} }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ key: expect.stringContaining('worker.identity') as unknown, line: 5, message });
    expect(err.message).toContain('line 5');
  });

  it('accepts exactly 100 characters', async () => {
    const dir = tempDir();
    const file = workerYaml(dir, [`identity: ${'x'.repeat(100)}`]);
    const { config } = await loadConfig({ file, env: {} });
    expect(config.worker.identity).toHaveLength(100);
  });

  it('names HYPERSDK_WORKER_ID when the environment value is the bad one', async () => {
    const dir = tempDir();
    const err = await configError(loadConfig({ env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_WORKER_ID: 'has space' } }));
    expect(err.issues[0]?.key).toBe('HYPERSDK_WORKER_ID (environment, worker.identity)');
    expect(err.issues[0]?.message).toBe('must not contain whitespace');
  });

  it('refuses a host name that cannot stand in for the identity, naming the keys to set', () => {
    const err = (() => {
      try {
        resolveWorkerIdentity(undefined, 'h'.repeat(120));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]?.key).toBe('worker.identity');
    expect((err as Error).message).toMatch(/host name .* at most 100 characters.*set worker\.identity or HYPERSDK_WORKER_ID/);
    // A configured identity is used as given: the schema has already checked it.
    expect(resolveWorkerIdentity('w1', 'h'.repeat(120))).toBe('w1');
  });
});

describe('worker.lost_timeout_seconds', () => {
  it.each([
    { value: '0', message: /greater than or equal to 1|>=\s*1/ },
    { value: '1.5', message: /expected int/ },
    { value: '"ten"', message: /number/ },
    { value: String(8 * 24 * 3600), message: /less than or equal to 604800|<=\s*604800/ },
  ])('refuses $value with the key and the line', async ({ value, message }) => {
    const dir = tempDir();
    const file = workerYaml(dir, ['identity: w1', `lost_timeout_seconds: ${value}`]);
    const err = await configError(loadConfig({ file, env: {} }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.key).toContain('worker.lost_timeout_seconds');
    expect(err.issues[0]?.line).toBe(5);
    expect(err.issues[0]?.message).toMatch(message);
  });
});
