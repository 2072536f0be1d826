// Seals inline vCenter credentials so that they can travel through Temporal
// (workflow input and history) as opaque ciphertext. The gateway seals with the
// shared secrets key; the worker opens with the same key. AES-256-GCM: a tampered
// or truncated blob fails to open instead of yielding garbage credentials.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface InlineCredentials {
  server: string;
  username: string;
  password: string;
  insecure: boolean;
  thumbprint?: string;
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Binds the ciphertext to its purpose: a blob sealed for something else will not open here.
const AAD = Buffer.from('hypersdk/credentials/v1');

export class SealedCredentialsError extends Error {
  override name = 'SealedCredentialsError';
}

/** Decodes a base64 key and insists on 32 bytes (AES-256). */
export function decodeSecretsKey(key: string | Buffer): Buffer {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
  if (bytes.length !== 32) {
    throw new SealedCredentialsError(`secrets key must be 32 bytes (base64-encoded), got ${bytes.length}`);
  }
  return bytes;
}

export function generateSecretsKey(): string {
  return randomBytes(32).toString('base64');
}

export function sealCredentials(key: string | Buffer, credentials: InlineCredentials): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', decodeSecretsKey(key), iv);
  cipher.setAAD(AAD);
  const plain = Buffer.from(JSON.stringify(credentials), 'utf8');
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

export function openCredentials(key: string | Buffer, sealed: string): InlineCredentials {
  const [version, payload, ...rest] = sealed.split('.');
  if (version !== VERSION || payload === undefined || rest.length > 0) {
    throw new SealedCredentialsError('sealed credentials: unknown format');
  }
  const raw = Buffer.from(payload, 'base64url');
  if (raw.length <= IV_BYTES + TAG_BYTES) throw new SealedCredentialsError('sealed credentials: truncated');
  const decipher = createDecipheriv('aes-256-gcm', decodeSecretsKey(key), raw.subarray(0, IV_BYTES));
  decipher.setAAD(AAD);
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    // Never say more: the cause is a wrong key or a modified blob, both just "cannot open".
    throw new SealedCredentialsError('sealed credentials: wrong key or tampered data');
  }
  const parsed = JSON.parse(plain.toString('utf8')) as InlineCredentials;
  return parsed;
}
