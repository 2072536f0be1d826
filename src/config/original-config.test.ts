// Configuration files of the original Go hypersdk, and files shared with
// hyper2kvm, load unchanged: every documented spelling of the original's keys,
// its other settings and hyper2kvm's keys as warnings, never fatal; secrets never
// in a message.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';
import { resolveOutputPath } from './output-path.js';

function configFile(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-original-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

const SECRET = 'pa55-w0rd-never-shown';

describe('the original daemon configuration file', () => {
  for (const [label, keys] of [
    ['Go field names (its README)', ['VCenterURL', 'Username', 'Password', 'Insecure', 'DaemonAddr', 'LogLevel', 'DownloadWorkers']],
    ['lower case (what its YAML decoder matched)', ['vcenterurl', 'username', 'password', 'insecure', 'daemonaddr', 'loglevel', 'downloadworkers']],
    ['snake_case (its config.example.yaml)', ['vcenter_url', 'username', 'password', 'insecure', 'daemon_addr', 'log_level', 'download_workers']],
  ] as const) {
    it(`reads its settings spelt as ${label}, with the log level in capitals`, async () => {
      const [url, user, pass, insecure, addr, level, workers] = keys;
      const { dir, file } = configFile(
        `${url}: "https://vcenter.example.com"\n${user}: "admin@vsphere.local"\n${pass}: "${SECRET}"\n${insecure}: true\n${addr}: "127.0.0.1:8089"\n${level}: INFO\n${workers}: 3\n`,
      );
      const { config, warnings, notes } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
      expect(config.vsphere.profiles.default).toMatchObject({ url: 'https://vcenter.example.com/sdk', username: 'admin@vsphere.local', password: SECRET, insecure: true });
      expect(config.daemon.addr).toBe('127.0.0.1:8089');
      expect(config.logLevel).toBe('info');
      expect(config.defaults.parallelDownloads).toBe(3); // its per-export download parallelism
      expect(warnings).toEqual([]);
      expect(notes.join('\n')).not.toContain(SECRET);
    });
  }

  it('warns about its settings hypersdk does without (by name, never by value) and still starts', async () => {
    const { dir, file } = configFile(
      [
        'VCenterURL: https://vc.example',
        'timeout: 3600s',
        'chunk_size: 33554432',
        'ShowETA: true',
        'connection_pool:',
        '  enabled: true',
        'webhooks:',
        '  - url: https://hooks.example/x',
        `    headers: {Authorization: "Bearer ${SECRET}"}`,
        'database_path: ./hypersdk.db',
        'aws:',
        `  secret_key: ${SECRET}`,
        'hyperv:',
        `  password: ${SECRET}`,
        'alibaba_cloud: {}',
        '',
      ].join('\n'),
    );
    const { warnings } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    const text = warnings.join('\n');
    for (const name of ['Timeout', 'ChunkSize', 'ShowETA', 'ConnectionPool', 'Webhooks', 'DatabasePath', 'aws.secret_key', 'HyperV', 'AlibabaCloud']) {
      expect(text).toContain(`the original daemon's ${name} setting has no effect`);
    }
    expect(text).toContain('line 2');
    expect(text).not.toContain(SECRET);
  });

  it("loads a file shared with hyper2kvm: its keys (daemon: true too) are warnings, log_level in its Python spelling is read", async () => {
    const { dir, file } = configFile(
      ['command: daemon', 'daemon: true', 'watch_dir: /var/lib/hyper2kvm/queue', 'output_dir: /var/lib/hyper2kvm/output', 'log_level: WARNING', 'vcenter: vc.example', 'vc_user: admin', `vc_password: ${SECRET}`, 'vs_export_concurrency: 2', ''].join('\n'),
    );
    const { config, warnings } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.logLevel).toBe('warn');
    expect(config.daemon.addr).toBe('localhost:8080');
    const text = warnings.join('\n');
    expect(text).toContain('daemon (');
    expect(text).toContain('a switch of hyper2kvm');
    for (const key of ['command', 'watch_dir', 'output_dir', 'vc_password', 'vs_export_concurrency']) expect(text).toContain(`unknown key ${key}`);
    expect(text).not.toContain(SECRET);
  });

  it('a key of ours with a wrong type stays an error naming the key and its line', async () => {
    const { dir, file } = configFile(`watch_dir: /q\ndaemon:\n  data_dir: DIR\n  addr: 8080\nlog_level: loud\n`);
    writeFileSync(file, `watch_dir: /q\ndaemon:\n  data_dir: ${dir}\n  addr: 8080\nlog_level: loud\n`);
    const err = await loadConfig({ file, env: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues.find((i) => i.key.startsWith('daemon.addr'))?.line).toBe(4);
    expect(issues.find((i) => i.key.startsWith('log_level'))).toMatchObject({ line: 5, message: expect.stringContaining('debug, info, warn, error') as unknown });
    expect(issues.find((i) => i.key.startsWith('daemon (')) ?? issues.find((i) => i.key === 'daemon')).toBeUndefined();
    // `daemon: "yes"` is not a switch hyper2kvm writes: a wrong type for our section.
    writeFileSync(file, `daemon: "yes"\n`);
    await expect(loadConfig({ file, env: { XDG_STATE_HOME: dir } })).rejects.toThrow(/daemon/);
  });

  it('takes an unknown LogLevel as info with a warning, as the original did; a structured key wins over its flat spelling', async () => {
    const { dir, file } = configFile(`LogLevel: trace\nDaemonAddr: "127.0.0.1:1"\ndaemon:\n  addr: "127.0.0.1:2"\n`);
    const { config, warnings } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.logLevel).toBe('info');
    expect(config.daemon.addr).toBe('127.0.0.1:2');
    expect(warnings.join('\n')).toContain('LogLevel (');
    expect(warnings.join('\n')).toContain('daemon.addr is set as well and wins; DaemonAddr is ignored');
  });

  it('an empty variable is unset, as in the original unit (Environment="GOVC_PASSWORD="): the file keeps its value', async () => {
    const { dir, file } = configFile(`VCenterURL: https://vc.example\nPassword: "${SECRET}"\n`);
    const { config } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir, GOVC_PASSWORD: '', LOG_LEVEL: '', GOVC_INSECURE: '' } });
    expect(config.vsphere.profiles.default?.password).toBe(SECRET);
    expect(config.logLevel).toBe('info');
    const env = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir, LOG_LEVEL: 'DEBUG' } });
    expect(env.config.logLevel).toBe('debug');
  });
});

describe('output roots', () => {
  it('come from HYPERSDK_OUTPUT_ROOTS, colon-separated like PATH', async () => {
    const { dir } = configFile('');
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir, HYPERSDK_OUTPUT_ROOTS: `${a}: ${b}:` } });
    expect(config.output.allowedRoots).toEqual([a, b]);
  });

  it('a refusal names the file key and the variable, with the value that allows the path', async () => {
    const { dir } = configFile('');
    const root = join(dir, 'exports');
    const err = await resolveOutputPath({ output: { allowedRoots: [root] } }, '/var/lib/hyper2kvm/output/vm1').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain('output.allowed_roots');
    expect(err?.message).toContain(`HYPERSDK_OUTPUT_ROOTS=${root}:/var/lib/hyper2kvm/output`);
  });
});

describe('data directory under the original systemd unit', () => {
  it("is the working directory (its WorkingDirectory=/var/lib/hypersdk) when the home's cannot be created (ProtectHome=true)", async () => {
    const { dir: cwd, file } = configFile('');
    // A home that cannot hold a directory (under a file: even root cannot), as /home/hypersdk behind ProtectHome=true.
    const { config, notes } = await loadConfig({ env: { HOME: join(file, 'home') }, cwd });
    expect(config.daemon.dataDir).toBe(cwd);
    expect(notes.join('\n')).toContain(`data directory ${cwd} (the working directory)`);
    expect(notes.join('\n')).toContain('HYPERSDK_DATA_DIR');
  });

  it('stays under the home when it can be created', async () => {
    const { dir: home } = configFile('');
    const { dir: cwd } = configFile('');
    const { config, notes } = await loadConfig({ env: { HOME: home }, cwd });
    expect(config.daemon.dataDir).toBe(join(home, '.local', 'state', 'hypersdk'));
    expect(notes).toEqual([]);
  });
});

describe('string settings of the original written as YAML numbers', () => {
  it('are read as written, as its Go decoder did (Password: 0123 is "0123")', async () => {
    const { dir, file } = configFile('VCenterURL: vc.example\nUsername: 1e3\nPassword: 0123\n');
    const { config } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir } });
    expect(config.vsphere.profiles.default).toMatchObject({ username: '1e3', password: '0123' });
  });
});
