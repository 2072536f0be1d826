// The AWS provider's entry point: connectAws builds a SourceProvider for one region
// from the worker's standard AWS credential chain (nothing secret travels with a job).
// Endpoints follow AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_EBS / AWS_ENDPOINT_URL,
// which the SDK reads itself (private endpoints; the tests' moto).
import { ErrorType } from '../../core/errors.js';
import { createAwsClients } from './clients.js';
import { failure } from './errors.js';
import { AwsProvider, type AwsProviderOptions } from './provider.js';

export interface AwsConnectOptions extends AwsProviderOptions {
  /** e.g. "eu-west-1". */
  region: string;
  /** A profile of the shared AWS config; absent: the default chain. */
  profile?: string;
  /** Deadline of one AWS API request (default 60 s). */
  requestTimeoutMs?: number;
  /** Attempts per AWS call, throttled ones backed off adaptively (default 5). */
  maxAttempts?: number;
}

/** Region names as AWS spells them: us-east-1, eu-central-2, us-gov-west-1, cn-north-1. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * A provider for one region. No call is made yet: the credentials are resolved, and
 * refused (AuthenticationFailed) or short of a permission (SourceRefused, naming the
 * IAM action), on the first call that needs them.
 */
export function connectAws(options: AwsConnectOptions): Promise<AwsProvider> {
  if (!REGION.test(options.region)) {
    return Promise.reject(
      failure(ErrorType.InvalidInput, `AWS: "${options.region}" is not a region name (e.g. eu-west-1)`, true),
    );
  }
  return Promise.resolve(new AwsProvider(createAwsClients(options), options));
}

export { AwsProvider, type AwsProviderOptions } from './provider.js';
export { EbsSnapshotSource, type EbsSnapshotSourceOptions } from './ebs-snapshot-source.js';
export { encodeSnapshotSet, parseSnapshotSet, CREATED_BY_TAG, type SnapshotPair } from './snapshots.js';
