import { describe, expect, it } from 'vitest';
import { generateSecretsKey, openCredentials, sealCredentials } from './secrets.js';

const creds = { server: 'https://vc/sdk', username: 'admin', password: 'hunter2-very-secret', insecure: true };

describe('sealed credentials', () => {
  it('round-trips and hides the password', () => {
    const key = generateSecretsKey();
    const sealed = sealCredentials(key, creds);
    expect(sealed).not.toContain('hunter2');
    expect(Buffer.from(sealed.split('.')[1] ?? '', 'base64url').toString('latin1')).not.toContain('hunter2');
    expect(openCredentials(key, sealed)).toEqual(creds);
  });

  it('refuses a wrong key and a modified blob', () => {
    const key = generateSecretsKey();
    const sealed = sealCredentials(key, creds);
    expect(() => openCredentials(generateSecretsKey(), sealed)).toThrow(/wrong key or tampered/);
    const last = sealed.at(-2) === 'A' ? 'B' : 'A';
    expect(() => openCredentials(key, sealed.slice(0, -2) + last + sealed.slice(-1))).toThrow();
    expect(() => openCredentials(key, 'v2.abc')).toThrow(/unknown format/);
  });
});
