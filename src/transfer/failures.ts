// Turns network and protocol failures into the workflow's error types. Anything a
// retry may fix (a dropped connection, a stall, a 5xx, an expired session) is
// retryable TransferFailed; certificate problems are TlsError and final.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import { errorCode } from '../storage/sink-errors.js';
import { BODY_TIMEOUT } from './http-get.js';
import { THUMBPRINT_MISMATCH } from './tls-pinning.js';

const TLS_CODES = new Set([
  THUMBPRINT_MISMATCH,
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function failure(type: ErrorType, message: string, nonRetryable = false, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable, cause: cause instanceof Error ? cause : undefined });
}

/** Finds the first error code along the `cause` chain (wrapped socket errors). */
function codeInChain(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    const code = errorCode(e);
    if (code !== undefined && code !== 'TypeError') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function classifyTransferError(err: unknown, url: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const code = codeInChain(err);
  const message = err instanceof Error ? err.message : String(err);
  const where = redactUrl(url);
  if (code !== undefined && (TLS_CODES.has(code) || code.startsWith('ERR_SSL_'))) {
    return failure(ErrorType.TlsError, `TLS to ${where} refused: ${message} (${code})`, true, err);
  }
  if (code === BODY_TIMEOUT) return failure(ErrorType.TransferFailed, `${where}: source stalled (${message})`, false, err);
  return failure(ErrorType.TransferFailed, `${where}: ${message}${code ? ` (${code})` : ''}`, false, err);
}

/** Query strings of lease/datastore URLs may carry tokens: keep them out of messages. */
export { redactUrl };
