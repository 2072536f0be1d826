import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSink } from '../../src/storage/local-sink.js';
import { attempt, failureType } from './helpers/run.js';
import { startSourceServer, type SourceServer } from './helpers/source-server.js';

describe('transferDisk over TLS', () => {
  let dir: string;
  let server: SourceServer;
  let sha1: string;
  let sha256: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hyper-tls-'));
    // A self-signed certificate, like an ESXi host's.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=esxi.test',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    const x509 = new X509Certificate(cert);
    sha1 = x509.fingerprint;
    sha256 = x509.fingerprint256;
    server = await startSourceServer(2 * 1024 * 1024, {}, { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const run = (name: string, sslThumbprint?: string, insecure?: boolean) =>
    attempt(new LocalSink(join(dir, 'out')), name, server.url, {
      source: { url: server.url, headers: {}, ...(sslThumbprint ? { sslThumbprint } : {}) },
      tls: { insecure },
    });

  it('verifies certificates by default: a self-signed one is a final TlsError', async () => {
    const a = await run('a.vmdk');
    expect(failureType(a.error)).toBe('TlsError');
    expect((a.error as { nonRetryable?: boolean }).nonRetryable).toBe(true);
  });

  it('insecure turns verification off explicitly', async () => {
    const a = await run('b.vmdk', undefined, true);
    expect(a.result?.sha256).toBe(server.sha256);
  });

  it('a matching SHA-1 or SHA-256 thumbprint pins the self-signed certificate', async () => {
    expect((await run('c.vmdk', sha1)).result?.sha256).toBe(server.sha256);
    expect((await run('d.vmdk', sha256.toLowerCase())).result?.sha256).toBe(server.sha256);
  });

  it('a different thumbprint → TlsError, non-retryable, nothing published', async () => {
    const wrong = sha1.replace(/^../, sha1.startsWith('00') ? '11' : '00');
    const a = await run('e.vmdk', wrong);
    expect(failureType(a.error)).toBe('TlsError');
    expect((a.error as Error).message).toMatch(/thumbprint/);
    expect(await new LocalSink(join(dir, 'out')).listComplete()).not.toContain('e.vmdk');
  });
});
