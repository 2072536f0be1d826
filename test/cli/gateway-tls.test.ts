// hypervisord serving HTTPS (daemon.tls_cert / daemon.tls_key) and hyperctl talking
// to it over https with a private CA (-ca, HYPERSDK_CA_CERT, NODE_EXTRA_CA_CERTS);
// without the CA, with a wrong scheme or with unusable certificate files, each
// side says what is wrong in one sentence, without a stack trace.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { daemonCommand } from '../../src/daemon/process-settings.js';
import { dyingWithParent } from '../../src/devservices/process.js';
import { freePort } from '../../src/devservices/ports.js';
import { makeTestPki, type TestPki } from '../harness/certs.js';
import { runBin, type BinRun } from '../harness/run-bin.js';

const bin = (name: string) => fileURLToPath(new URL(`../../bin/${name}.js`, import.meta.url));
const services = inject('services');

/** A clean environment: none of the caller's CA or daemon settings leak in. */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '' };
  for (const name of [
    'NODE_EXTRA_CA_CERTS',
    'HYPERSDK_CA_CERT',
    'HYPERVISOR_URL',
    'HYPERSDK_DAEMON_URL',
    'HYPERSDK_API_TOKEN',
    'DAEMON_ADDR',
  ])
    delete env[name];
  return { ...env, ...extra };
}

function hyperctl(args: string[], env: Record<string, string> = {}): Promise<BinRun> {
  return runBin('hyperctl', args, baseEnv(env));
}

interface Daemon {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number>;
}

/** Starts `hypervisord --mode gateway` with a config file; resolves once it is ready or has exited. */
async function startHypervisord(dir: string, yaml: string[], env: Record<string, string>): Promise<Daemon> {
  const configFile = join(dir, `config-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(
    configFile,
    [
      'temporal:',
      `  address: ${services.temporal.address}`,
      `  namespace: ${services.temporal.namespace}`,
      `  task_queue: tls-${randomBytes(4).toString('hex')}`,
      'log_level: warn',
      ...yaml,
    ].join('\n'),
  );
  const command = daemonCommand(
    bin('hypervisord'),
    ['-config', configFile, '-mode', 'gateway'],
    baseEnv({ HYPERSDK_DATA_DIR: dir, ...env }),
  );
  const child = spawn(...dyingWithParent(process.execPath, command.args), {
    env: command.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  for (let i = 0; i < 600 && !log.includes('hypervisord: ready') && child.exitCode === null; i++)
    await new Promise((r) => setTimeout(r, 100));
  // Let the exit code land when it failed.
  if (!log.includes('hypervisord: ready'))
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  return { child, log: () => log, exited };
}

async function stop(daemon: Daemon | undefined): Promise<void> {
  if (!daemon) return;
  if (daemon.child.exitCode === null) daemon.child.kill('SIGTERM');
  await daemon.exited;
}

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

let pki: TestPki;
let dir: string;
let daemon: Daemon;
let url: string;

beforeAll(async () => {
  dir = join(services.workDir, `gateway-tls-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  pki = makeTestPki(join(dir, 'pki'));
  const port = await freePort();
  daemon = await startHypervisord(
    dir,
    ['daemon:', `  tls_cert: ${pki.serverCert}`, `  tls_key: ${pki.serverKey}`],
    { DAEMON_ADDR: `127.0.0.1:${port}` },
  );
  expect(daemon.log(), daemon.log()).toContain('hypervisord: ready');
  url = `https://127.0.0.1:${port}`;
  expect(daemon.log()).toContain(`gateway listening on ${url}`);
});
afterAll(async () => stop(daemon));

describe('gateway TLS', () => {
  it('hyperctl reaches an https daemon with -ca, HYPERSDK_CA_CERT or NODE_EXTRA_CA_CERTS', async () => {
    const status = await hyperctl(['status', '-daemon', url, '-ca', pki.caCert]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`Daemon:    ${url}`);

    const query = await hyperctl(['query', '-all', '-json', '-daemon', url], {
      HYPERSDK_CA_CERT: pki.caCert,
    });
    expect(query.code, query.stderr).toBe(0);
    expect(JSON.parse(query.stdout)).toMatchObject({ jobs: [] });

    // Node's own trust-store extension works with hyperctl's HTTP client too.
    const extra = await hyperctl(['status'], { HYPERVISOR_URL: url, NODE_EXTRA_CA_CERTS: pki.caCert });
    expect(extra.code, extra.stderr).toBe(0);
  });

  it('hyperctl without the CA fails with one sentence saying how to trust it', async () => {
    const run = await hyperctl(['status', '-daemon', url]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('does not trust');
    expect(run.stderr).toContain('-ca <file>');
    expect(run.stderr).toContain('HYPERSDK_CA_CERT');
    noStack(run.stderr);

    // A CA that did not sign the server's certificate is no better.
    const stranger = await hyperctl(['status', '-daemon', url, '-ca', pki.strangerCert]);
    expect(stranger.code).toBe(3);
    expect(stranger.stderr).toContain('does not trust');
    noStack(stranger.stderr);
  });

  it('hyperctl says so when the scheme or the CA file is wrong', async () => {
    const plain = await hyperctl(['status', '-daemon', url.replace('https:', 'http:')]);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toContain('https://');
    noStack(plain.stderr);

    const missing = await hyperctl(['status', '-daemon', url, '-ca', join(dir, 'no-such-ca.pem')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('-ca');
    expect(missing.stderr).toContain('ENOENT');
    noStack(missing.stderr);

    const notPem = await hyperctl(['status', '-daemon', url], { HYPERSDK_CA_CERT: pki.serverKey });
    expect(notPem.code).toBe(2);
    expect(notPem.stderr).toContain('HYPERSDK_CA_CERT');
    expect(notPem.stderr).toContain('no PEM certificate');
  });

  it('hypervisord refuses unusable certificate files at start, naming the key', async () => {
    for (const [yaml, expected] of [
      [
        [`  tls_cert: ${join(dir, 'missing.crt')}`, `  tls_key: ${pki.serverKey}`],
        /daemon\.tls_cert: cannot read .*missing\.crt \(ENOENT\)/,
      ],
      [
        [`  tls_cert: ${pki.serverKey}`, `  tls_key: ${pki.serverKey}`],
        /daemon\.tls_cert: .* holds no PEM certificate/,
      ],
      [
        [`  tls_cert: ${pki.strangerCert}`, `  tls_key: ${pki.serverKey}`],
        /daemon\.tls_cert \/ daemon\.tls_key: .* not a usable certificate and key/,
      ],
      [[`  tls_cert: ${pki.serverCert}`], /daemon\.tls_cert .*daemon\.tls_key/],
    ] as const) {
      const port = await freePort();
      const failed = await startHypervisord(dir, ['daemon:', ...yaml], { DAEMON_ADDR: `127.0.0.1:${port}` });
      const code = await failed.exited;
      expect(code, failed.log()).toBe(2);
      expect(failed.log()).toMatch(expected);
      noStack(failed.log());
    }
  });

  it('hypervisord warns loudly when it serves beyond loopback over plain HTTP', async () => {
    const port = await freePort();
    const open = await startHypervisord(dir, [], {
      DAEMON_ADDR: `0.0.0.0:${port}`,
      HYPERSDK_API_TOKEN: 'tls-test-token-0123456789',
    });
    try {
      expect(open.log()).toContain('hypervisord: ready');
      expect(open.log()).toMatch(/WARNING: the gateway listens on 0\.0\.0\.0:\d+ over plain HTTP/);
      expect(open.log()).toContain('daemon.tls_cert');
    } finally {
      await stop(open);
    }
    const quiet = await startHypervisord(
      dir,
      ['daemon:', `  tls_cert: ${pki.serverCert}`, `  tls_key: ${pki.serverKey}`],
      {
        DAEMON_ADDR: `0.0.0.0:${await freePort()}`,
        HYPERSDK_API_TOKEN: 'tls-test-token-0123456789',
      },
    );
    try {
      expect(quiet.log()).toContain('hypervisord: ready');
      expect(quiet.log()).not.toContain('WARNING');
    } finally {
      await stop(quiet);
    }
  });
});
