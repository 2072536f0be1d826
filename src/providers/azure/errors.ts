// Azure errors as the workflow's failure types. Every Resource Manager call goes
// through azureCall, which names the Azure RBAC action and what the call was about
// in what it throws, so a refusal says which permission the worker's identity
// lacks. Messages carry Resource Manager's error code and (shortened) message, or
// the credential chain's reason, never a request's headers, a token or a SAS.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';
import { redactUrlsInText } from '../../core/redact.js';

export interface AzureCallContext {
  /** RBAC action, e.g. "Microsoft.Compute/snapshots/write". */
  action: string;
  /** What the call was about, for messages: 'VM "web1" in resource group rg1'. */
  subject: string;
}

/** The caller's identity lacks a permission (or a policy forbids the call): final until someone grants it. */
const ACCESS_DENIED = new Set(['AuthorizationFailed', 'LinkedAuthorizationFailed', 'RequestDisallowedByPolicy', 'Forbidden']);
/** The token was refused: the identity is unknown to the tenant, or its token expired or is for another audience. */
const AUTH_FAILED = new Set(['InvalidAuthenticationToken', 'InvalidAuthenticationTokenAudience', 'InvalidAuthenticationTokenTenant', 'ExpiredAuthenticationToken', 'AuthenticationFailed']);
const NOT_FOUND = new Set(['ResourceNotFound', 'NotFound', 'ResourceGroupNotFound', 'SubscriptionNotFound', 'ParentResourceNotFound']);
const QUOTA = new Set(['QuotaExceeded', 'SnapshotCountExceeded']);
/** What @azure/identity throws when no credential of the chain works, or the token service refuses. */
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);

interface RestErrorLike {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

function restError(err: unknown): { code: string; status: number; message: string } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as RestErrorLike;
  if (e.name !== 'RestError' || typeof e.statusCode !== 'number') return undefined;
  return { code: typeof e.code === 'string' ? e.code : `HTTP${e.statusCode}`, status: e.statusCode, message: typeof e.message === 'string' ? e.message : '' };
}

/** Resource Manager said the thing does not exist (or a lookup here found nothing). */
export function isNotFound(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return err.type === ErrorType.VmNotFound;
  const r = restError(err);
  return r !== undefined && (r.status === 404 || NOT_FOUND.has(r.code));
}

/** One short line of a service or credential message: no URL query strings, at most 300 characters. */
function shortened(message: string): string {
  const line = redactUrlsInText(message.replace(/\s+/g, ' ').trim());
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** One Resource Manager call; its refusals become the workflow's failure types. */
export async function azureCall<T>(ctx: AzureCallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toFailure(err, ctx);
  }
}

export function toFailure(err: unknown, ctx: AzureCallContext): unknown {
  if (err instanceof ApplicationFailure) return err;
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  if (typeof name === 'string' && CREDENTIAL_ERRORS.has(name)) {
    return ApplicationFailure.create({
      type: ErrorType.AuthenticationFailed,
      message: `Azure: no token for the worker's identity calling ${ctx.action} (${name}: ${shortened((err as Error).message ?? '')}); check its Azure credential chain (environment, workload or managed identity, Azure CLI login)`,
      nonRetryable: true,
      details: [{ azureCode: name }],
    });
  }
  const r = restError(err);
  if (!r) return err; // network errors and timeouts: the SDK retried, the activity may too
  const create = (type: string, message: string, nonRetryable: boolean) => ApplicationFailure.create({ type, message, nonRetryable, details: [{ azureCode: r.code, status: r.status }] });
  const detail = r.message ? `: ${shortened(r.message)}` : '';
  if (r.status === 403 || ACCESS_DENIED.has(r.code)) {
    return create(ErrorType.SourceRefused, `Azure: access denied to ${ctx.action} (${r.code}) for ${ctx.subject}; grant it to the identity the worker uses${detail}`, true);
  }
  if (r.status === 401 || AUTH_FAILED.has(r.code)) {
    return create(ErrorType.AuthenticationFailed, `Azure: the worker's token was refused (${r.code}) calling ${ctx.action}; check its Azure credential chain and tenant`, true);
  }
  if (r.status === 404 || NOT_FOUND.has(r.code)) {
    return create(ErrorType.VmNotFound, `Azure: ${ctx.subject} not found (${r.code})`, true);
  }
  if (QUOTA.has(r.code)) return create(ErrorType.SourceRefused, `Azure: ${ctx.action} for ${ctx.subject} refused (${r.code})${detail}`, true);
  if (r.status === 400) return create(ErrorType.InvalidInput, `Azure: ${ctx.action} for ${ctx.subject} refused as invalid (${r.code})${detail}`, true);
  // Throttling that outlasted the SDK's retries, a 409 conflict, a 5xx: retryable, under Azure's own code.
  return create(r.code, `Azure: ${ctx.action} for ${ctx.subject} failed: ${r.status} ${r.code}${detail}`, false);
}

export function failure(type: ErrorType, message: string, nonRetryable: boolean): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable });
}
