// hypervisord's embedded Temporal server is a child process: it must not inherit
// the daemon's secrets. Read what the kernel says it got (/proc/<pid>/environ).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTemporalDevServer } from '../../src/devservices/temporal.js';

describe('embedded Temporal server environment', () => {
  it('holds none of the daemon secrets (GOVC_PASSWORD, secrets key, API token, AWS secret)', async () => {
    const secrets = {
      GOVC_PASSWORD: 'govc-password-must-not-leak',
      GOVC_URL: 'https://user:url-secret-must-not-leak@vc.example/sdk',
      HYPERSDK_SECRETS_KEY: 'secrets-key-must-not-leak',
      HYPERSDK_API_TOKEN: 'api-token-must-not-leak',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-must-not-leak',
    };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    const logDir = mkdtempSync(join(tmpdir(), 'hypersdk-temporal-env-'));
    try {
      const server = await startTemporalDevServer({ logDir, dbFile: join(logDir, 'temporal.db') });
      try {
        const environ = readFileSync(`/proc/${server.process.pid}/environ`, 'latin1');
        expect(environ).toContain('PATH=');
        for (const [name, value] of Object.entries(secrets)) {
          expect(
            environ.split('\0').some((kv) => kv.startsWith(`${name}=`)),
            name,
          ).toBe(false);
          expect(environ).not.toContain(value);
        }
        expect(environ).not.toMatch(/(^|\0)(GOVC_|HYPERSDK_|AWS_)/);
      } finally {
        await server.stop();
      }
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
