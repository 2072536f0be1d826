// The gateway's boundary keys: defaults, environment, validation naming the key.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'hypersdk-boundary-'));

async function issues(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).message;
}

describe('gateway boundary configuration', () => {
  it('defaults: caps 100 jobs per submit and 1000 ids per query, no extra hosts or origins, no TLS', async () => {
    const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: tempDir() } });
    expect(config.daemon).toMatchObject({
      maxJobsPerSubmit: 100,
      maxIdsPerQuery: 1000,
      allowedHosts: [],
      allowedOrigins: [],
    });
    expect(config.daemon.tls).toBeUndefined();
  });

  it('reads the file keys and normalises names and origins', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      [
        'daemon:',
        '  max_jobs_per_submit: 5',
        '  max_ids_per_query: 50',
        '  allowed_hosts: [Exports.LAN., "[fd00::1]"]',
        '  allowed_origins: ["https://UI.example:443", "http://ui.example:8080"]',
        '  tls_cert: tls/cert.pem',
        '  tls_key: /etc/hypersdk/key.pem',
      ].join('\n'),
    );
    const { config } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.daemon).toMatchObject({
      maxJobsPerSubmit: 5,
      maxIdsPerQuery: 50,
      allowedHosts: ['exports.lan', '[fd00::1]'],
      allowedOrigins: ['https://ui.example', 'http://ui.example:8080'],
      tls: { certFile: join(dir, 'tls/cert.pem'), keyFile: '/etc/hypersdk/key.pem' },
    });
  });

  it('reads the environment (comma lists)', async () => {
    const { config } = await loadConfig({
      env: {
        HYPERSDK_DATA_DIR: tempDir(),
        HYPERSDK_ALLOWED_HOSTS: 'a.lan, b.lan',
        HYPERSDK_ALLOWED_ORIGINS: 'https://ui.example',
        HYPERSDK_MAX_JOBS_PER_SUBMIT: '7',
        HYPERSDK_MAX_IDS_PER_QUERY: '8',
        HYPERSDK_TLS_CERT: '/c.pem',
        HYPERSDK_TLS_KEY: '/k.pem',
      },
    });
    expect(config.daemon).toMatchObject({
      allowedHosts: ['a.lan', 'b.lan'],
      allowedOrigins: ['https://ui.example'],
      maxJobsPerSubmit: 7,
      maxIdsPerQuery: 8,
      tls: { certFile: '/c.pem', keyFile: '/k.pem' },
    });
  });

  it('refuses a certificate without its key (and the reverse), naming both keys', async () => {
    const only = await issues(
      loadConfig({ env: { HYPERSDK_DATA_DIR: tempDir(), HYPERSDK_TLS_CERT: '/c.pem' } }),
    );
    expect(only).toContain('HYPERSDK_TLS_CERT');
    expect(only).toContain('daemon.tls_key');
    expect(
      await issues(loadConfig({ env: { HYPERSDK_DATA_DIR: tempDir(), HYPERSDK_TLS_KEY: '/k.pem' } })),
    ).toContain('daemon.tls_cert');
  });

  it('refuses hosts with ports or schemes, origins with paths, and caps out of range', async () => {
    const env = { HYPERSDK_DATA_DIR: tempDir() };
    expect(await issues(loadConfig({ env: { ...env, HYPERSDK_ALLOWED_HOSTS: 'host.lan:8080' } }))).toContain(
      'HYPERSDK_ALLOWED_HOSTS',
    );
    expect(
      await issues(loadConfig({ env: { ...env, HYPERSDK_ALLOWED_HOSTS: 'http://host.lan' } })),
    ).toContain('host name');
    expect(
      await issues(loadConfig({ env: { ...env, HYPERSDK_ALLOWED_ORIGINS: 'https://ui.example/app' } })),
    ).toContain('origin');
    expect(await issues(loadConfig({ env: { ...env, HYPERSDK_MAX_JOBS_PER_SUBMIT: '0' } }))).toContain(
      'HYPERSDK_MAX_JOBS_PER_SUBMIT',
    );
    expect(await issues(loadConfig({ env: { ...env, HYPERSDK_MAX_IDS_PER_QUERY: 'many' } }))).toContain(
      'HYPERSDK_MAX_IDS_PER_QUERY',
    );
  });
});
