import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { temporalConnectOptions } from '../temporal/connection.js';
import { ConfigError, loadConfig } from './load.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function setup(): { dir: string; file: (name: string, text?: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-temporal-tls-'));
  return {
    dir,
    file: (name, text = PEM) => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    },
  };
}

async function issues(promise: Promise<unknown>): Promise<string[]> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).issues.map((i) => `${i.key}: ${i.message}`);
}

describe('temporal.tls and temporal.api_key', () => {
  it('reads them from the file and from HYPERSDK_TEMPORAL_* (environment wins), as absolute paths', async () => {
    const { dir, file } = setup();
    const ca = file('ca.crt');
    const crt = file('client.crt');
    const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n');
    const yaml = file(
      'config.yaml',
      `temporal:\n  address: temporal.example:7233\n  tls:\n    ca_cert: ${ca}\n    client_cert: ${crt}\n    client_key: ${key}\n    server_name: from-file\n`,
    );
    const { config } = await loadConfig({
      file: yaml,
      env: {
        HYPERSDK_DATA_DIR: dir,
        HYPERSDK_TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
        HYPERSDK_TEMPORAL_API_KEY: 'k-secret',
      },
    });
    expect(config.temporal.tls).toEqual({
      caCert: ca,
      clientCert: crt,
      clientKey: key,
      serverName: 'temporal.internal',
    });
    expect(config.temporal.apiKey).toBe('k-secret');

    const options = temporalConnectOptions(config.temporal);
    expect(options.address).toBe('temporal.example:7233');
    expect(options.apiKey).toBe('k-secret');
    expect(options.tls?.serverNameOverride).toBe('temporal.internal');
    expect(options.tls?.serverRootCACertificate?.toString()).toBe(PEM);
    expect(options.tls?.clientCertPair?.key.toString()).toContain('PRIVATE KEY');
  });

  it('resolves relative paths under the data directory, as daemon.tls_cert does', async () => {
    const { dir, file } = setup();
    file('ca.crt');
    const { config } = await loadConfig({
      env: { HYPERSDK_DATA_DIR: dir, TEMPORAL_ADDRESS: 't:7233', HYPERSDK_TEMPORAL_TLS_CA: 'ca.crt' },
    });
    expect(config.temporal.tls).toEqual({ caCert: join(dir, 'ca.crt') });
  });

  it('leaves TLS off when nothing is set', async () => {
    const { dir } = setup();
    const { config } = await loadConfig({
      env: { HYPERSDK_DATA_DIR: dir, TEMPORAL_ADDRESS: '127.0.0.1:7233' },
    });
    expect(config.temporal.tls).toBeUndefined();
    expect(config.temporal.apiKey).toBeUndefined();
    expect(temporalConnectOptions(config.temporal)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('refuses a client certificate without its key, and a key without its certificate, naming both keys', async () => {
    const { dir, file } = setup();
    const crt = file('client.crt');
    const env = { HYPERSDK_DATA_DIR: dir, TEMPORAL_ADDRESS: 't:7233' };
    expect(await issues(loadConfig({ env: { ...env, HYPERSDK_TEMPORAL_TLS_CERT: crt } }))).toEqual([
      'HYPERSDK_TEMPORAL_TLS_CERT (environment, temporal.tls.client_cert): is set but temporal.tls.client_key is not: a client certificate and its private key go together (set both, or neither)',
    ]);
    const yaml = file('config.yaml', `temporal:\n  address: t:7233\n  tls:\n    client_key: ${crt}\n`);
    const [only] = await issues(loadConfig({ file: yaml, env: { HYPERSDK_DATA_DIR: dir } }));
    expect(only).toMatch(
      /^temporal\.tls\.client_key \(.*config\.yaml line 4\): is set but temporal\.tls\.client_cert is not/,
    );
  });

  it('names the key and the path of a file it cannot read or that is no PEM file, never the content', async () => {
    const { dir, file } = setup();
    const missing = join(dir, 'nope.crt');
    const unreadable = file('locked.key', '-----BEGIN PRIVATE KEY-----\nsecret-bytes\n');
    chmodSync(unreadable, 0o000);
    const notPem = file('der.crt', 'secret-bytes-not-pem');
    const env = {
      HYPERSDK_DATA_DIR: dir,
      TEMPORAL_ADDRESS: 't:7233',
      HYPERSDK_TEMPORAL_TLS_CA: missing,
      HYPERSDK_TEMPORAL_TLS_CERT: notPem,
      HYPERSDK_TEMPORAL_TLS_KEY: unreadable,
    };
    const found = await issues(loadConfig({ env }));
    expect(found[0]).toBe(
      `HYPERSDK_TEMPORAL_TLS_CA (environment, temporal.tls.ca_cert): cannot read ${missing} (ENOENT)`,
    );
    expect(found[1]).toBe(
      `HYPERSDK_TEMPORAL_TLS_CERT (environment, temporal.tls.client_cert): ${notPem} is not a PEM file (no "-----BEGIN" line)`,
    );
    // root reads anything: the unreadable case only shows for other users.
    if (process.getuid?.() !== 0)
      expect(found[2]).toBe(
        `HYPERSDK_TEMPORAL_TLS_KEY (environment, temporal.tls.client_key): cannot read ${unreadable} (EACCES)`,
      );
    expect(found.join('\n')).not.toContain('secret-bytes');
  });

  it('refuses TLS or an API key without temporal.address: the embedded dev server is plain gRPC on loopback', async () => {
    const { dir, file } = setup();
    const ca = file('ca.crt');
    const [tls] = await issues(loadConfig({ env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_TEMPORAL_TLS_CA: ca } }));
    expect(tls).toMatch(
      /^temporal\.address: must be set when temporal\.tls is: .*embedded Temporal dev server, which listens on 127\.0\.0\.1 only and has no TLS or API keys/,
    );
    const [key] = await issues(
      loadConfig({ env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_TEMPORAL_API_KEY: 'k-secret' } }),
    );
    expect(key).toMatch(/^temporal\.address: must be set when temporal\.api_key is/);
    expect(key).not.toContain('k-secret');
  });

  it('never shows the API key in an error about it', async () => {
    const { dir } = setup();
    const found = await issues(
      loadConfig({
        env: { HYPERSDK_DATA_DIR: dir, TEMPORAL_ADDRESS: 't:7233', HYPERSDK_TEMPORAL_API_KEY: '' },
      }),
    );
    expect(found).toEqual(['HYPERSDK_TEMPORAL_API_KEY (environment, temporal.api_key): must not be empty']);
  });
});
