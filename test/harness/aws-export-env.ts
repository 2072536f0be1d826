// What an AWS export test needs: a worker configuration (Temporal from the aws
// project's setup, a local output root, no vCenter), a worker in the test
// process whose AWS clients reach moto through the standard endpoint variables,
// and workflow inputs with an AWS source.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecretsKey } from '../../src/config/secrets.js';
import type { HyperConfig } from '../../src/config/types.js';
import { DEFAULT_TASK_QUEUE, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { exportInput } from './export-env.js';
import type { AwsServices } from './aws-services.js';

export function awsWorkerConfig(aws: AwsServices): HyperConfig {
  const root = join(aws.workDir, 'exports');
  mkdirSync(root, { recursive: true });
  return {
    daemon: { addr: '127.0.0.1:0', dataDir: join(aws.workDir, 'daemon'), maxBodyBytes: 1 << 20 },
    temporal: {
      address: aws.temporal.address,
      namespace: aws.temporal.namespace,
      taskQueue: `${DEFAULT_TASK_QUEUE}-${randomBytes(4).toString('hex')}`,
      uiPort: 0,
    },
    vsphere: { profiles: {}, defaultProfile: 'default' },
    s3: {
      endpoint: aws.minio.endpoint,
      region: aws.minio.region,
      accessKeyId: aws.minio.accessKeyId,
      secretAccessKey: aws.minio.secretAccessKey,
      forcePathStyle: true,
      allowedBuckets: [aws.minio.bucket],
    },
    output: { allowedRoots: [root] },
    defaults: { method: 'auto', format: 'qcow2', parallelDownloads: 2, removeCdrom: false, snapshot: false, powerOff: false, shutdownTimeoutSeconds: 60 },
    secretsKey: generateSecretsKey(),
    logLevel: 'warn',
    worker: { maxConcurrentTransfers: 4, heartbeatIntervalMs: 1_000, identity: 'aws-test-worker', lostTimeoutMs: 600_000, restartWarningBytes: 1 << 30 },
  };
}

/** The SDK's own endpoint variables: the provider is given no endpoint of its own. */
export function pointAwsAt(ec2: string, ebs: string): void {
  process.env.AWS_ENDPOINT_URL_EC2 = ec2;
  process.env.AWS_ENDPOINT_URL_EBS = ebs;
}

/** An export of `vmPath` in `region` into `directory` (qcow2 unless overridden), as the gateway would start it. */
export function awsExportInput(
  jobId: string,
  vmPath: string,
  directory: string,
  region: string,
  overrides: Parameters<typeof exportInput>[3] = {},
): ExportWorkflowInput {
  return exportInput(jobId, vmPath, { kind: 'local', directory }, { format: 'qcow2', source: { provider: 'aws', region }, ...overrides });
}
