import { mkdtempSync, statSync, writeFileSync, readFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';
import { resolveOutputPath, safeFileName, OutputPathNotAllowedError } from './output-path.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hypersdk-config-'));
}

function writeYaml(dir: string, text: string): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
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

describe('loadConfig', () => {
  it('applies defaults with no file and an empty environment', async () => {
    const dir = tempDir();
    const { config, warnings } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.daemon.addr).toBe('localhost:8080');
    expect(config.daemon.dataDir).toBe(dir);
    expect(config.output.allowedRoots[0]).toBe(join(dir, 'exports'));
    expect(config.output.allowedRoots).toHaveLength(2);
    expect(config.defaults).toMatchObject({ method: 'auto', format: 'ovf', parallelDownloads: 4 });
    expect(warnings).toEqual([]);
  });

  it('reads the worker rules: s3.allowed_buckets, vsphere.allowed_hosts, vsphere.allow_insecure_http (environment wins)', async () => {
    const dir = tempDir();
    const file = writeYaml(dir, 's3:\n  allowed_buckets: [exports, shared/team-a]\nvsphere:\n  allowed_hosts: ["vc.example.com:8443"]\n  allow_insecure_http: true\n');
    const { config } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.s3.allowedBuckets).toEqual(['exports', 'shared/team-a']);
    expect(config.vsphere).toMatchObject({ allowedHosts: ['vc.example.com:8443'], allowInsecureHttp: true });
    const fromEnv = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_S3_ALLOWED_BUCKETS: 'a, b/c', HYPERSDK_VSPHERE_ALLOWED_HOSTS: 'vc2' } });
    expect(fromEnv.config.s3.allowedBuckets).toEqual(['a', 'b/c']);
    expect(fromEnv.config.vsphere.allowedHosts).toEqual(['vc2']);
    const none = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir } });
    expect(none.config.s3.allowedBuckets).toEqual([]);
    expect(none.config.vsphere.allowInsecureHttp).toBe(false);
    expect(none.config.vsphere.allowedHosts).toBeUndefined();
    const bad = await configError(loadConfig({ file: writeYaml(dir, 'vsphere:\n  allowed_hosts: ["https://vc/sdk"]\n'), env: { HYPERSDK_DATA_DIR: dir } }));
    expect(bad.message).toMatch(/vsphere\.allowed_hosts.*host or host:port/);
  });

  it('persists a generated secrets key once, with mode 0600', async () => {
    const dir = tempDir();
    const first = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir } });
    const second = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir } });
    expect(Buffer.from(first.config.secretsKey, 'base64')).toHaveLength(32);
    expect(second.config.secretsKey).toBe(first.config.secretsKey);
    expect(readFileSync(join(dir, 'secrets.key'), 'utf8').trim()).toBe(first.config.secretsKey);
    expect(statSync(join(dir, 'secrets.key')).mode & 0o777).toBe(0o600);
  });

  it('lets the environment override the file (GOVC_*, DAEMON_ADDR, DOWNLOAD_WORKERS)', async () => {
    const dir = tempDir();
    const file = writeYaml(
      dir,
      `daemon:\n  addr: localhost:9000\n  data_dir: ${dir}\nvsphere:\n  profiles:\n    default:\n      url: https://file.example/sdk\n      username: fileuser\n`,
    );
    const { config } = await loadConfig({
      file,
      env: {
        GOVC_URL: 'vc.example',
        GOVC_PASSWORD: 'pw',
        GOVC_INSECURE: '1',
        DAEMON_ADDR: '127.0.0.1:8181',
        DOWNLOAD_WORKERS: '7',
        LOG_LEVEL: 'DEBUG',
      },
    });
    expect(config.daemon.addr).toBe('127.0.0.1:8181');
    expect(config.vsphere.profiles.default).toEqual({
      url: 'https://vc.example/sdk',
      username: 'fileuser',
      password: 'pw',
      insecure: true,
    });
    // The original's DOWNLOAD_WORKERS: parallel downloads of one export.
    expect(config.defaults.parallelDownloads).toBe(7);
    expect(config.logLevel).toBe('debug');
  });

  it('takes user and password out of a GOVC_URL with userinfo: the URL kept has none', async () => {
    const dir = tempDir();
    const { config } = await loadConfig({
      env: { HYPERSDK_DATA_DIR: dir, GOVC_URL: 'https://admin%40vsphere.local:p%40ss:w@vc.example/sdk' },
    });
    expect(config.vsphere.profiles.default).toMatchObject({
      url: 'https://vc.example/sdk',
      username: 'admin@vsphere.local',
      password: 'p@ss:w',
    });
    // Explicit variables win over the URL's userinfo.
    const explicit = await loadConfig({
      env: { HYPERSDK_DATA_DIR: dir, GOVC_URL: 'https://a:b@vc.example/sdk', GOVC_USERNAME: 'u', GOVC_PASSWORD: 'p' },
    });
    expect(explicit.config.vsphere.profiles.default).toMatchObject({ url: 'https://vc.example/sdk', username: 'u', password: 'p' });
  });

  it('reads secrets from NAME_FILE files and from systemd credentials, never both ways at once', async () => {
    const dir = tempDir();
    const creds = tempDir();
    const key = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(join(dir, 'govc-password'), 'from-a-file\n');
    writeFileSync(join(creds, 'HYPERSDK_SECRETS_KEY'), `${key}\n`);
    writeFileSync(join(creds, 'HYPERSDK_API_TOKEN'), 'token-from-credentials');
    const { config } = await loadConfig({
      env: {
        HYPERSDK_DATA_DIR: dir,
        GOVC_URL: 'vc.example',
        GOVC_USERNAME: 'admin',
        GOVC_PASSWORD_FILE: join(dir, 'govc-password'),
        CREDENTIALS_DIRECTORY: creds,
      },
    });
    expect(config.vsphere.profiles.default?.password).toBe('from-a-file');
    expect(config.secretsKey).toBe(key);
    expect(config.daemon.apiToken).toBe('token-from-credentials');

    const twice = await configError(
      loadConfig({ env: { HYPERSDK_DATA_DIR: dir, GOVC_PASSWORD: 'x', GOVC_PASSWORD_FILE: join(dir, 'govc-password') } }),
    );
    expect(twice.issues[0]).toMatchObject({ key: 'GOVC_PASSWORD_FILE' });
    const missing = await configError(loadConfig({ env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_SECRETS_KEY_FILE: join(dir, 'nope') } }));
    expect(missing.message).toMatch(/HYPERSDK_SECRETS_KEY_FILE: cannot read .*nope/);
  });

  it('caps SOAP responses at vsphere.max_response_mib (HYPERSDK_SOAP_MAX_RESPONSE_MIB)', async () => {
    const dir = tempDir();
    const { config } = await loadConfig({
      env: { HYPERSDK_DATA_DIR: dir, GOVC_URL: 'vc.example', HYPERSDK_SOAP_MAX_RESPONSE_MIB: '16' },
    });
    expect(config.vsphere.profiles.default?.maxResponseBytes).toBe(16 * 1024 * 1024);
    const err = await configError(loadConfig({ env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_SOAP_MAX_RESPONSE_MIB: '0' } }));
    expect(err.message).toContain('HYPERSDK_SOAP_MAX_RESPONSE_MIB');
  });

  it("keeps its data in systemd's StateDirectory when no data_dir is set", async () => {
    const state = tempDir();
    const { config } = await loadConfig({ env: { STATE_DIRECTORY: state, HOME: '/nonexistent-home' } });
    expect(config.daemon.dataDir).toBe(state);
  });

  it('reads the original daemon flat keys', async () => {
    const dir = tempDir();
    const file = writeYaml(
      dir,
      `VCenterURL: "https://vcenter.example.com/sdk"\nUsername: "admin"\nPassword: "secret"\nInsecure: true\nDaemonAddr: "localhost:8088"\nDownloadWorkers: 3\n`,
    );
    const { config, warnings, notes } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.vsphere.profiles.default?.url).toBe('https://vcenter.example.com/sdk');
    expect(config.vsphere.profiles.default?.insecure).toBe(true);
    expect(config.daemon.addr).toBe('localhost:8088');
    expect(config.defaults.parallelDownloads).toBe(3);
    expect(config.worker.maxConcurrentTransfers).toBe(4);
    expect(warnings).toEqual([]);
    expect(notes.join('\n')).toContain('VCenterURL');
  });

  it('names the key and the line of an invalid value', async () => {
    const dir = tempDir();
    const file = writeYaml(dir, `daemon:\n  data_dir: ${dir}\ndefaults:\n  format: ova\n  parallel_downloads: "four"\n`);
    const err = await configError(loadConfig({ file, env: {} }));
    expect(err.issues[0]?.key).toContain('defaults.parallel_downloads');
    expect(err.issues[0]?.line).toBe(5);
    expect(err.message).toContain('line 5');
  });

  it('names the line of a missing required field inside a profile', async () => {
    const dir = tempDir();
    const file = writeYaml(dir, `daemon:\n  data_dir: ${dir}\nvsphere:\n  profiles:\n    lab:\n      username: x\n`);
    const err = await configError(loadConfig({ file, env: {} }));
    expect(err.issues[0]?.key).toContain('vsphere.profiles.lab.url');
    expect(err.issues[0]?.line).toBe(5);
  });

  it('names the environment variable of an invalid environment value', async () => {
    const dir = tempDir();
    const err = await configError(loadConfig({ env: { HYPERSDK_DATA_DIR: dir, DOWNLOAD_WORKERS: 'many' } }));
    expect(err.message).toContain('DOWNLOAD_WORKERS');
  });

  it('reports malformed YAML with its line', async () => {
    const dir = tempDir();
    const file = writeYaml(dir, `daemon:\n  addr: localhost:8080\n   bad: [1, 2\n`);
    const err = await configError(loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } }));
    expect(err.issues[0]?.line).toBeGreaterThanOrEqual(2);
    expect(err.message).toMatch(/line \d/);
  });

  it('warns about unknown keys with their line, without failing', async () => {
    const dir = tempDir();
    const file = writeYaml(dir, `daemon:\n  data_dir: ${dir}\n  adress: localhost:1\n`);
    const { warnings } = await loadConfig({ file, env: {} });
    expect(warnings).toEqual([expect.stringContaining('daemon.adress') as unknown]);
    expect(warnings[0]).toContain('line 3');
  });
});

describe('resolveOutputPath', () => {
  it('keeps absolute paths inside a root, resolves relative ones under the first root', async () => {
    const root = tempDir();
    const config = { output: { allowedRoots: [root] } };
    expect(await resolveOutputPath(config, join(root, 'a', 'b'))).toBe(join(root, 'a', 'b'));
    expect(await resolveOutputPath(config, 'vm1')).toBe(join(root, 'vm1'));
  });

  it('rejects escapes through .. and through symlinks', async () => {
    const root = tempDir();
    const outside = tempDir();
    mkdirSync(join(root, 'sub'));
    symlinkSync(outside, join(root, 'sub', 'link'));
    const config = { output: { allowedRoots: [root] } };
    await expect(resolveOutputPath(config, '../elsewhere')).rejects.toBeInstanceOf(OutputPathNotAllowedError);
    await expect(resolveOutputPath(config, join(root, 'sub', 'link', 'new', 'dir'))).rejects.toThrow(/output_path/);
    await expect(resolveOutputPath(config, '/etc')).rejects.toThrow(/outside the allowed output roots/);
  });
});

describe('safeFileName', () => {
  it('removes separators, dots and control characters', () => {
    expect(safeFileName('../../etc/passwd')).toBe('etc_passwd');
    expect(safeFileName('My VM (prod)')).toBe('My_VM_prod');
    expect(safeFileName('...')).toBe('vm');
    expect(safeFileName('a\u0000b/c')).toBe('a_b_c');
  });
});
