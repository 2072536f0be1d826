// Seals inline vCenter credentials so that they can travel through Temporal
// (workflow input and history) as opaque ciphertext. The gateway seals with the
// shared secrets key; the worker opens with the same key. AES-256-GCM: a tampered
// or truncated blob fails to open instead of yielding garbage credentials.
//
// A blob is bound to the job it was sealed for: the job id (the workflow id) is
// part of the authenticated data, and is carried in clear beside the ciphertext so
// that a blob copied into another job's input is refused with a message that says
// so (instead of "wrong key"). Anyone who can start workflows could otherwise
// replay one job's credentials in a job of their own.
//
//   v2.<base64url(job id)>.<base64url(iv | tag | ciphertext)>
//
// v1 (before the binding: no job id, a fixed AAD) is recognised and refused.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface InlineCredentials {
  server: string;
  username: string;
  password: string;
  insecure: boolean;
  thumbprint?: string;
}

const VERSION = 'v2';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Binds the ciphertext to its purpose and its job: a blob sealed for anything else will not open. */
function aad(jobId: string): Buffer {
  return Buffer.from(`hypersdk/credentials/${VERSION}\0${jobId}`, 'utf8');
}

export type SealedCredentialsProblem = 'key' | 'format' | 'unbound' | 'other-job' | 'tampered';

export class SealedCredentialsError extends Error {
  override name = 'SealedCredentialsError';
  constructor(
    message: string,
    readonly problem: SealedCredentialsProblem = 'tampered',
  ) {
    super(message);
  }
}

/** Decodes a base64 key and insists on 32 bytes (AES-256). */
export function decodeSecretsKey(key: string | Buffer): Buffer {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
  if (bytes.length !== 32) {
    throw new SealedCredentialsError(
      `secrets key must be 32 bytes (base64-encoded), got ${bytes.length}`,
      'key',
    );
  }
  return bytes;
}

export function generateSecretsKey(): string {
  return randomBytes(32).toString('base64');
}

/** Seals `credentials` for the job `jobId` (the workflow id): only that job can open them. */
export function sealCredentials(key: string | Buffer, credentials: InlineCredentials, jobId: string): string {
  if (!jobId)
    throw new SealedCredentialsError('sealed credentials need the id of the job they are for', 'format');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', decodeSecretsKey(key), iv);
  cipher.setAAD(aad(jobId));
  const plain = Buffer.from(JSON.stringify(credentials), 'utf8');
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const job = Buffer.from(jobId, 'utf8').toString('base64url');
  return `${VERSION}.${job}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** The format version of a sealed blob ("v1", "v2"...), for telling old blobs from new. */
export function sealedVersion(sealed: string): string {
  return sealed.split('.', 1)[0] ?? '';
}

/** Opens credentials sealed for the job `jobId`; throws SealedCredentialsError otherwise. */
export function openCredentials(key: string | Buffer, sealed: string, jobId: string): InlineCredentials {
  const parts = sealed.split('.');
  if (parts[0] === 'v1' && parts.length === 2) {
    throw new SealedCredentialsError(
      'sealed credentials: format v1 is not bound to a job (sealed by an older gateway); submit the job again',
      'unbound',
    );
  }
  const [version, job, payload] = parts;
  if (version !== VERSION || job === undefined || payload === undefined || parts.length !== 3) {
    throw new SealedCredentialsError('sealed credentials: unknown format', 'format');
  }
  const sealedFor = Buffer.from(job, 'base64url').toString('utf8');
  if (sealedFor !== jobId) {
    throw new SealedCredentialsError(
      `sealed credentials belong to job ${JSON.stringify(sealedFor)}, not to this job ${JSON.stringify(jobId)}`,
      'other-job',
    );
  }
  const raw = Buffer.from(payload, 'base64url');
  if (raw.length <= IV_BYTES + TAG_BYTES) throw new SealedCredentialsError('sealed credentials: truncated');
  const decipher = createDecipheriv('aes-256-gcm', decodeSecretsKey(key), raw.subarray(0, IV_BYTES));
  decipher.setAAD(aad(jobId));
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
