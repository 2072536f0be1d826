import { mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHILD_ENV_NAMES, childEnvironment } from '../core/child-env.js';
import { launch, waitUntilReady } from './process.js';

const logDir = mkdtempSync(join(tmpdir(), 'hypersdk-proc-'));

describe('launch / stop', () => {
  it('stops a running process and reports it exited', async () => {
    const proc = launch('sleeper', 'sleep', { args: ['30'], logFile: join(logDir, 'sleep.log') });
    expect(proc.exited).toBe(false);
    await proc.stop(1_000);
    expect(proc.exited).toBe(true);
    expect(() => process.kill(proc.pid, 0)).toThrow();
  });

  it('fails readiness with the log tail when the process dies first', async () => {
    const proc = launch('crasher', 'sh', { args: ['-c', 'echo boom-from-server; exit 3'], logFile: join(logDir, 'c.log') });
    await expect(waitUntilReady(proc, () => Promise.resolve(undefined), 5_000)).rejects.toThrow(
      /crasher exited before it was ready[\s\S]*boom-from-server/,
    );
  });

  it('fails readiness after the timeout when the probe never succeeds', async () => {
    const proc = launch('idler', 'sleep', { args: ['30'], logFile: join(logDir, 'i.log') });
    await expect(
      waitUntilReady(proc, () => Promise.reject(new Error('connection refused')), 300),
    ).rejects.toThrow(/idler was not ready after 300 ms \(last probe error: connection refused\)/);
    expect(proc.exited).toBe(true);
  });
});

describe('child environment', () => {
  it("gives launched processes a minimal environment, never this process's secrets", async () => {
    const secrets = {
      GOVC_PASSWORD: 'govc-password-must-not-leak',
      HYPERSDK_SECRETS_KEY: 'secrets-key-must-not-leak',
      HYPERSDK_API_TOKEN: 'api-token-must-not-leak',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-must-not-leak',
    };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    const proc = launch('sleeper', 'sleep', { args: ['30'], logFile: join(logDir, 'env.log') });
    try {
      // Until the child has called execve, /proc shows the environment it was forked
      // with (this process's): wait, boundedly, until it is sleep.
      for (let i = 0; i < 200 && !readlinkSync(`/proc/${proc.pid}/exe`).endsWith('/sleep'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(readlinkSync(`/proc/${proc.pid}/exe`)).toMatch(/\/sleep$/);
      // The kernel's copy of what the process really got.
      const environ = readFileSync(`/proc/${proc.pid}/environ`, 'latin1').split('\0').filter(Boolean);
      const names = environ.map((kv) => kv.slice(0, kv.indexOf('=')));
      for (const [name, value] of Object.entries(secrets)) {
        expect(names).not.toContain(name);
        expect(environ.join('\n')).not.toContain(value);
      }
      expect(names.every((n) => (CHILD_ENV_NAMES as readonly string[]).includes(n))).toBe(true);
      expect(names).toContain('PATH');
    } finally {
      await proc.stop(1_000);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('childEnvironment keeps the basics and adds only what is asked for', () => {
    const env = childEnvironment({ MINIO_ROOT_USER: 'u', SKIPPED: undefined }, {
      PATH: '/bin',
      HOME: '/h',
      TZ: 'UTC',
      GOVC_PASSWORD: 'x',
      HYPERSDK_SECRETS_KEY: 'y',
    });
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', TZ: 'UTC', MINIO_ROOT_USER: 'u' });
  });
});
