// AWS errors as the workflow's failure types. Every EC2/EBS call goes through
// awsCall, which names the IAM action and the region in what it throws, so a
// refusal says which permission the worker's credentials lack. Messages carry AWS's
// error code and message, never a request's headers or the credentials.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';

export interface AwsCallContext {
  /** IAM action, e.g. "ec2:CreateSnapshots". */
  action: string;
  region: string;
  /** What the call was about, for messages: 'instance "i-0abc"', 'snapshot set of i-0abc'. */
  subject: string;
}

/** Refusals of the caller's permissions: final, the credentials need the action. */
const ACCESS_DENIED = new Set([
  'UnauthorizedOperation',
  'AccessDeniedException',
  'AccessDenied',
  'OptInRequired',
  'Blocked',
]);
/** The credentials themselves refused (unknown, expired) or missing. */
const AUTH_FAILED = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'ExpiredToken',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
/** What a ref named does not exist (or cannot, being malformed). */
const NOT_FOUND = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidInstanceID.Malformed',
  'InvalidVolume.NotFound',
  'InvalidVolumeID.Malformed',
  'InvalidSnapshot.NotFound',
  'InvalidSnapshotID.Malformed',
  'InvalidID',
  'ResourceNotFoundException',
]);
/** Quotas: retrying does not help until someone frees or raises them. */
const LIMITS = new Set(['SnapshotLimitExceeded', 'ResourceLimitExceeded', 'InstanceLimitExceeded']);

/** The AWS error code of an SDK error, or of a failure awsCall made from one. */
export function awsCode(err: unknown): string | undefined {
  if (err instanceof ApplicationFailure) {
    const d: unknown = err.details?.[0];
    return typeof d === 'object' && d !== null && typeof (d as { awsCode?: unknown }).awsCode === 'string'
      ? (d as { awsCode: string }).awsCode
      : undefined;
  }
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: unknown; Code?: unknown; $metadata?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' && (e.$metadata !== undefined || AUTH_FAILED.has(e.name))
    ? e.name
    : undefined;
}

/** AWS said the thing does not exist (or a lookup here found nothing). */
export function isNotFound(err: unknown): boolean {
  if (err instanceof ApplicationFailure && err.type === ErrorType.VmNotFound) return true;
  const code = awsCode(err);
  return code !== undefined && NOT_FOUND.has(code);
}

/** One AWS call; its refusals become the workflow's failure types, other errors keep AWS's code as their type. */
export async function awsCall<T>(ctx: AwsCallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toFailure(err, ctx);
  }
}

export function toFailure(err: unknown, ctx: AwsCallContext): unknown {
  if (err instanceof ApplicationFailure) return err;
  const code = awsCode(err);
  if (code === undefined) return err; // network and timeout errors: the SDK retried, the activity may too
  const detail = err instanceof Error && err.message && err.message !== code ? `: ${err.message}` : '';
  const create = (type: string, message: string, nonRetryable: boolean) =>
    ApplicationFailure.create({ type, message, nonRetryable, details: [{ awsCode: code }] });
  if (ACCESS_DENIED.has(code)) {
    // EC2 appends an encoded authorization message to UnauthorizedOperation: the action says enough.
    return create(
      ErrorType.SourceRefused,
      `AWS ${ctx.region}: access denied to ${ctx.action} (${code}) for ${ctx.subject}; grant it to the credentials the worker uses`,
      true,
    );
  }
  if (AUTH_FAILED.has(code)) {
    return create(
      ErrorType.AuthenticationFailed,
      `AWS ${ctx.region}: the worker's credentials were refused or not found (${code}) calling ${ctx.action}; check its AWS profile or credential chain`,
      true,
    );
  }
  if (NOT_FOUND.has(code)) {
    return create(ErrorType.VmNotFound, `AWS ${ctx.region}: ${ctx.subject} not found (${code})`, true);
  }
  if (LIMITS.has(code)) {
    return create(
      ErrorType.SourceRefused,
      `AWS ${ctx.region}: ${ctx.action} for ${ctx.subject} refused by a quota (${code})${detail}`,
      true,
    );
  }
  if (code === 'IncorrectInstanceState') {
    return create(
      ErrorType.InvalidPowerState,
      `AWS ${ctx.region}: ${ctx.action} for ${ctx.subject}: ${code}${detail}`,
      false,
    );
  }
  // Throttling that outlasted the adaptive retries, a 5xx, ...: retryable, under AWS's own code.
  return create(code, `AWS ${ctx.region}: ${ctx.action} for ${ctx.subject} failed: ${code}${detail}`, false);
}

export function failure(type: ErrorType, message: string, nonRetryable: boolean): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable });
}
