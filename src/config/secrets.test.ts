import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateSecretsKey,
  openCredentials,
  sealCredentials,
  sealedVersion,
  SealedCredentialsError,
} from './secrets.js';

const creds = {
  server: 'https://vc/sdk',
  username: 'admin',
  password: 'hunter2-very-secret',
  insecure: true,
};

function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SealedCredentialsError) return err.problem;
    throw err;
  }
  return undefined;
}

describe('sealed credentials', () => {
  it('round-trips and hides the password', () => {
    const key = generateSecretsKey();
    const sealed = sealCredentials(key, creds, 'job-a');
    expect(sealed).not.toContain('hunter2');
    expect(Buffer.from(sealed.split('.')[2] ?? '', 'base64url').toString('latin1')).not.toContain('hunter2');
    expect(openCredentials(key, sealed, 'job-a')).toEqual(creds);
    expect(sealedVersion(sealed)).toBe('v2');
  });

  it('refuses a wrong key and a modified blob', () => {
    const key = generateSecretsKey();
    const sealed = sealCredentials(key, creds, 'job-a');
    expect(() => openCredentials(generateSecretsKey(), sealed, 'job-a')).toThrow(/wrong key or tampered/);
    const last = sealed.at(-2) === 'A' ? 'B' : 'A';
    expect(() => openCredentials(key, sealed.slice(0, -2) + last + sealed.slice(-1), 'job-a')).toThrow();
    expect(() => openCredentials(key, 'v3.abc.def', 'job-a')).toThrow(/unknown format/);
  });

  it('binds the blob to its job: sealed for job A, refused in job B', () => {
    const key = generateSecretsKey();
    const sealed = sealCredentials(key, creds, 'job-a');
    expect(openCredentials(key, sealed, 'job-a')).toEqual(creds);
    expect(() => openCredentials(key, sealed, 'job-b')).toThrow(
      /belong to job "job-a", not to this job "job-b"/,
    );
    expect(problemOf(() => openCredentials(key, sealed, 'job-b'))).toBe('other-job');
  });

  it('refuses a blob whose clear job id was rewritten to the new job (the AAD still names the old one)', () => {
    const key = generateSecretsKey();
    const [version, , payload] = sealCredentials(key, creds, 'job-a').split('.');
    const forged = `${version}.${Buffer.from('job-b').toString('base64url')}.${payload}`;
    expect(() => openCredentials(key, forged, 'job-b')).toThrow(/wrong key or tampered/);
  });

  it('tells an old unbound v1 blob apart and refuses it', () => {
    const key = generateSecretsKey();
    // A v1 blob as the previous gateway made it: fixed AAD, no job id.
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'base64'), iv);
    cipher.setAAD(Buffer.from('hypersdk/credentials/v1'));
    const body = Buffer.concat([cipher.update(JSON.stringify(creds)), cipher.final()]);
    const v1 = `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
    expect(sealedVersion(v1)).toBe('v1');
    expect(() => openCredentials(key, v1, 'job-a')).toThrow(/format v1 is not bound to a job/);
    expect(problemOf(() => openCredentials(key, v1, 'job-a'))).toBe('unbound');
  });
});
