// The AWS provider's entry point: connectAws builds a SourceProvider for one
// region from the standard AWS credential chain. (Stub until the provider lands.)
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';
import type { SourceProvider } from '../../core/source-provider.js';

export interface AwsConnectOptions {
  region: string;
  /** A profile of the shared AWS config; absent: the default chain. */
  profile?: string;
}

export function connectAws(options: AwsConnectOptions): Promise<SourceProvider> {
  return Promise.reject(
    ApplicationFailure.create({ type: ErrorType.NotSupported, message: `AWS provider (${options.region}) is not built yet`, nonRetryable: true }),
  );
}
