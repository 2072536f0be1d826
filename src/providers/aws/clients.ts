// The SDK clients of one region, built from the standard AWS credential chain
// (environment, shared config/profile, SSO, container and instance metadata):
// nothing secret is passed in, so nothing secret can leak from here.
//
// Endpoints are never set here: the SDK itself honours AWS_ENDPOINT_URL_EC2 /
// AWS_ENDPOINT_URL_EBS / AWS_ENDPOINT_URL (and endpoint_url in the shared config),
// which is how private endpoints and the tests' moto are reached.
// Throttling: retryMode 'adaptive' backs off and rate-limits the client once AWS
// answers RequestLimitExceeded / ThrottlingException.
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';

export interface AwsClientOptions {
  region: string;
  /** A profile of the shared AWS config; absent: the default chain. */
  profile?: string;
  /** Deadline of one HTTP request (default 60 s). */
  requestTimeoutMs?: number;
  /** Attempts per call, throttled ones included (default 5). */
  maxAttempts?: number;
}

export interface AwsClients {
  readonly region: string;
  readonly ec2: EC2Client;
  readonly ebs: EBSClient;
}

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const config = {
    region: options.region,
    ...(options.profile ? { profile: options.profile } : {}),
    retryMode: 'adaptive',
    maxAttempts: options.maxAttempts ?? 5,
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: options.requestTimeoutMs ?? 60_000,
      throwOnRequestTimeout: true,
    },
  };
  return { region: options.region, ec2: new EC2Client(config), ebs: new EBSClient(config) };
}
