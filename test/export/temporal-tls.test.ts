// Temporal as a secured cluster: the harness's dev server behind an mTLS
// terminator (test/harness/tls-terminator.ts, Node's own TLS with the openssl-made
// test PKI). A real hypervisord and hyperctl, configured through the environment
// as an operator would, must reach it with the client certificate, and must say
// why when they cannot. Only processes and their output are used here, nothing of
// the code under test, so the same file runs against any version of it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { dyingWithParent } from '../../src/devservices/process.js';
import { parseManifest } from '../../src/export/ovf.js';
import { hyperctl, startDaemon } from '../e2e/daemon.js';
import { useTlsTerminator } from '../harness/tls-terminator.js';
import { createTestVm, sha256File } from './helpers.js';

const services = inject('services');
const MiB = 1024 * 1024;
const mtls = useTlsTerminator(services);

/** The environment that points a process at the mtls.terminator, with `client` as its certificate. */
function tlsEnv(client?: { cert: string; key: string }): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: mtls.terminator.address,
    HYPERSDK_TEMPORAL_TLS_CA: mtls.pki.caCert,
    ...(client ? { HYPERSDK_TEMPORAL_TLS_CERT: client.cert, HYPERSDK_TEMPORAL_TLS_KEY: client.key } : {}),
  };
}

const bin = (name: string) => fileURLToPath(new URL(`../../bin/${name}.js`, import.meta.url));

/** Runs hypervisord until it exits by itself (it must: Temporal refuses it). */
function hypervisordUntilExit(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(...dyingWithParent(process.execPath, [bin('hypervisord'), ...args]), {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function daemonEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(services.workDir, 'tls-daemon-'));
  return { ...process.env, HYPERSDK_DATA_DIR: dir, DAEMON_ADDR: '127.0.0.1:0', LOG_LEVEL: 'warn', ...extra };
}

const TLS_FAILED = /temporal: TLS handshake with 127\.0\.0\.1:\d+ failed: /;

describe('Temporal behind mTLS', () => {
  it('hypervisord (gateway and worker) connects with the client certificate: an export submitted with hyperctl completes, hyperctl describe reads it from Temporal directly', async () => {
    const authorizedBefore = mtls.terminator.authorized;
    const daemon = await startDaemon(
      services,
      '',
      tlsEnv({ cert: mtls.pki.clientCert, key: mtls.pki.clientKey }),
    );
    try {
      // The gateway's client and the worker's native connection both came through the mtls.terminator.
      expect(mtls.terminator.authorized - authorizedBefore).toBeGreaterThanOrEqual(2);
      const name = `tls-${randomBytes(3).toString('hex')}`;
      const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB, poweredOn: false });
      const output = join(daemon.exportRoot, name);
      const submit = await hyperctl(daemon, ['submit', '-vm', vm.path, '-output', output]);
      expect(submit.code, submit.stderr).toBe(0);
      const id = /^ {2}- Job ID: (\S+)$/m.exec(submit.stdout)?.[1];
      expect(id).toBeDefined();

      let final = '';
      for (let i = 0; i < 240 && !/\b(completed|failed|cancelled)\b/.test(final); i++) {
        if (i) await new Promise((r) => setTimeout(r, 500));
        final = (await hyperctl(daemon, ['query', '-id', id!])).stdout;
      }
      expect(final, daemon.log()).toContain('completed');
      const manifest = parseManifest(readFileSync(join(output, `${name}.mf`), 'utf8'));
      expect(readdirSync(output).sort()).toEqual([`${name}-disk1.vmdk`, `${name}.mf`, `${name}.ovf`]);
      for (const [file, sha] of manifest) expect(await sha256File(join(output, file))).toBe(sha);

      // hyperctl's direct Temporal commands use the same settings (TEMPORAL_ADDRESS, HYPERSDK_TEMPORAL_TLS_*).
      const described = await hyperctl(daemon, ['describe', '-id', id!, '-json']);
      expect(described.code, described.stderr).toBe(0);
      expect(JSON.parse(described.stdout)).toMatchObject({ workflow_id: id, status: 'COMPLETED' });

      // Without the client certificate it is refused, and says which setting to check.
      const { HYPERSDK_TEMPORAL_TLS_CERT: _c, HYPERSDK_TEMPORAL_TLS_KEY: _k, ...noCert } = daemon.env;
      const refused = await hyperctl({ ...daemon, env: noCert }, ['describe', '-id', id!]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(
        /TLS handshake with 127\.0\.0\.1:\d+ failed: .*certificate required.*check temporal\.tls\.client_cert/,
      );
    } finally {
      await daemon.stop();
    }
    expect(daemon.log()).not.toMatch(/TLS handshake .* failed/);
  });

  it('hypervisord without a client certificate exits 1 naming temporal.tls.client_cert, without a stack trace', async () => {
    const { code, stderr } = await hypervisordUntilExit([], daemonEnv(tlsEnv()));
    expect(code).toBe(1);
    expect(stderr).toMatch(TLS_FAILED);
    expect(stderr).toMatch(
      /certificate required \(the server asks for a client certificate and none was sent: check temporal\.tls\.client_cert/,
    );
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it("a worker with the stranger's certificate exits 1: the server refused the client certificate", async () => {
    const authorizedBefore = mtls.terminator.authorized;
    const { code, stderr } = await hypervisordUntilExit(
      ['-mode', 'worker'],
      daemonEnv(tlsEnv({ cert: mtls.pki.strangerCert, key: mtls.pki.strangerKey })),
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(TLS_FAILED);
    expect(stderr).toMatch(/the server refused the client certificate: check temporal\.tls\.client_cert/);
    expect(stderr).not.toMatch(/^\s+at /m);
    // Refused by the mtls.terminator's handshake: no connection with the stranger's certificate got through.
    expect(mtls.terminator.authorized).toBe(authorizedBefore);
  });

  it('an unknown server CA: the message names temporal.tls.ca_cert', async () => {
    const env = daemonEnv({
      ...tlsEnv({ cert: mtls.pki.clientCert, key: mtls.pki.clientKey }),
      HYPERSDK_TEMPORAL_TLS_CA: join(mtls.pki.dir, 'stranger-ca.crt'),
    });
    const { code, stderr } = await hypervisordUntilExit([], env);
    expect(code).toBe(1);
    expect(stderr).toMatch(TLS_FAILED);
    expect(stderr).toMatch(/the server's certificate is not trusted: check temporal\.tls\.ca_cert/);
  });
});
