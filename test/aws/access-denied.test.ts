// AccessDenied through the whole workflow: credentials whose IAM policy lacks an
// action the export needs. moto enforces IAM (signatures and policies) once its
// auth is switched on (/moto-api/reset-auth), so this file runs a moto of its own:
// the user and the data are made first, then every request is checked. The export
// must fail at once (no retry) with SourceRefused naming the missing action.
import type { WorkflowFailedError } from '@temporalio/client';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startMoto, type Moto } from '../../src/devservices/moto.js';
import { EXPORT_WORKFLOW_TYPE, type ExportWorkflowInput } from '../../src/core/export-contract.js';
import { ebsClient } from '../harness/aws-clients.js';
import { awsExportInput, awsWorkerConfig, pointAwsAt } from '../harness/aws-export-env.js';
import { seedSnapshot, type SeededSnapshot } from '../harness/aws-seed.js';
import { seedInstance, type SeededInstance } from '../harness/aws-instance.js';
import { startBlockCounter, type BlockCounter } from '../harness/ebs-block-counter.js';
import { useWorkerAndClient } from '../harness/export-env.js';

const aws = inject('aws');
const config = awsWorkerConfig(aws);
const root = config.output.allowedRoots[0]!;
// A worker in this process and a client, for the whole file (the AWS clients read the endpoint variables at the first export).
const exports = useWorkerAndClient(config);

// Everything an export needs except ebs:GetSnapshotBlock and ec2:CreateSnapshots.
const POLICY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['ec2:Describe*', 'ec2:CreateTags', 'ec2:DeleteSnapshot', 'ebs:ListSnapshotBlocks', 'ebs:ListChangedBlocks'], Resource: '*' }],
};

let moto: Moto;
let counter: BlockCounter;
let snapshot: SeededSnapshot;
let instance: SeededInstance;

/** One call of the IAM query API, before auth is on (moto then checks no signature). */
async function iam(params: Record<string, string>): Promise<string> {
  const res = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIATESTINGMOTOONLY00/20261202/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ Version: '2010-05-08', ...params }).toString(),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`IAM ${params.Action}: ${res.status} ${text}`);
  return text;
}

beforeAll(async () => {
  moto = await startMoto({ workDir: aws.workDir, without: aws.patchesLeftOut });
  const endpoint = { endpoint: moto.endpoint, region: moto.region };
  const ebs = ebsClient(endpoint);
  try {
    snapshot = await seedSnapshot(ebs, { volumeSizeGiB: 1, blockIndexes: [0, 7, 300] });
  } finally {
    ebs.destroy();
  }
  instance = await seedInstance(endpoint, { name: 'denied', volumes: [{ sizeGiB: 1, blockIndexes: [1] }] });
  await iam({ Action: 'CreateUser', UserName: 'exporter' });
  await iam({ Action: 'PutUserPolicy', UserName: 'exporter', PolicyName: 'export', PolicyDocument: JSON.stringify(POLICY) });
  const created = await iam({ Action: 'CreateAccessKey', UserName: 'exporter' });
  const keyId = /<AccessKeyId>([^<]+)</.exec(created)?.[1];
  const secret = /<SecretAccessKey>([^<]+)</.exec(created)?.[1];
  if (!keyId || !secret) throw new Error(`CreateAccessKey gave no key: ${created}`);
  // From here on moto checks every request's signature and the user's policy.
  const on = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  expect(on.status).toBe(200);
  // The worker's AWS chain: this process's environment (the test project's own setup put dummy keys there).
  process.env.AWS_ACCESS_KEY_ID = keyId;
  process.env.AWS_SECRET_ACCESS_KEY = secret;
  counter = await startBlockCounter(moto.endpoint);
  pointAwsAt(moto.endpoint, counter.endpoint);
}, 120_000);

afterAll(async () => {
  await counter?.close();
  await moto?.stop();
});

async function failureOf(input: ExportWorkflowInput): Promise<{ type?: string; message?: string; retryState?: string }> {
  const err = await exports.client.workflow
    .execute(EXPORT_WORKFLOW_TYPE, { taskQueue: config.temporal.taskQueue, workflowId: input.jobId, args: [input] })
    .then(() => undefined, (e: unknown) => e as WorkflowFailedError);
  const top = err?.cause as { type?: string; message?: string; cause?: { retryState?: string } } | undefined;
  return { ...(top?.type ? { type: top.type } : {}), ...(top?.message ? { message: top.message } : {}), ...(top?.cause?.retryState ? { retryState: top.cause.retryState } : {}) };
}

it('fails at once naming ebs:GetSnapshotBlock when the credentials may list blocks but not read them', async () => {
  const dir = join(root, 'denied-read');
  mkdirSync(dir, { recursive: true });
  const failure = await failureOf(awsExportInput(`denied-read-${Date.now()}`, snapshot.snapshotId, dir, moto.region));
  expect(failure.type).toBe('SourceRefused');
  expect(failure.message).toContain('ebs:GetSnapshotBlock');
  expect(failure.retryState).toBe('NON_RETRYABLE_FAILURE');
  // Refused blocks are not asked again.
  const reads = counter.reads(snapshot.snapshotId);
  expect(reads.length).toBeGreaterThan(0);
  expect(new Set(reads).size).toBe(reads.length);
}, 60_000);

it('fails at once naming ec2:CreateSnapshots when the credentials may not snapshot the instance', async () => {
  const dir = join(root, 'denied-snapshot');
  mkdirSync(dir, { recursive: true });
  const failure = await failureOf(awsExportInput(`denied-snapshot-${Date.now()}`, instance.instanceId, dir, moto.region));
  expect(failure.type).toBe('SourceRefused');
  expect(failure.message).toContain('ec2:CreateSnapshots');
  expect(failure.retryState).toBe('NON_RETRYABLE_FAILURE');
}, 60_000);
