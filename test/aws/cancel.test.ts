// Cancelling an AWS export mid-transfer: the workflow stops its reads, deletes the
// snapshot set it took and removes every file it created, leaving the output as
// it found it (a file the job did not create stays).
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { WorkflowFailedError } from '@temporalio/client';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { EXPORT_WORKFLOW_TYPE } from '../../src/core/export-contract.js';
import { CREATED_BY_TAG } from '../../src/providers/aws/snapshots.js';
import { ec2Client } from '../harness/aws-clients.js';
import { awsExportInput, awsWorkerConfig, pointAwsAt } from '../harness/aws-export-env.js';
import { spacedBlockIndexes } from '../harness/aws-seed.js';
import { seedInstance, type SeededInstance } from '../harness/aws-instance.js';
import { startBlockCounter, type BlockCounter } from '../harness/ebs-block-counter.js';
import { useWorkerAndClient } from '../harness/export-env.js';

const aws = inject('aws');
const config = awsWorkerConfig(aws);
const root = config.output.allowedRoots[0]!;
// A worker in this process and a client, for the whole file (the AWS clients read the endpoint variables at the first export).
const exports = useWorkerAndClient(config);
const BLOCKS = 300;

let counter: BlockCounter;
let instance: SeededInstance;

beforeAll(async () => {
  // Held 400 ms each, 32 at a time: ~80 blocks a second, so the transfer still has
  // seconds to go when the cancel reaches it (on its next heartbeat, within a second).
  counter = await startBlockCounter(aws.patched.endpoint, { blockDelayMs: 400 });
  pointAwsAt(aws.patched.endpoint, counter.endpoint);
  instance = await seedInstance(aws.patched, { name: 'cancelled', volumes: [{ sizeGiB: 1, blockIndexes: spacedBlockIndexes(BLOCKS, 6) }] });
}, 120_000);

afterAll(async () => {
  await counter?.close();
});

it('stops, deletes its snapshots and removes only the files it created', async () => {
  const dir = join(root, 'cancelled');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'notes.txt'), 'not the export\'s');
  const jobId = `aws-cancel-${Date.now()}`;
  const handle = await exports.client.workflow.start(EXPORT_WORKFLOW_TYPE, {
    taskQueue: config.temporal.taskQueue,
    workflowId: jobId,
    args: [awsExportInput(jobId, instance.instanceId, dir, aws.patched.region)],
  });
  // The job's own snapshot: its reads are counted under its id, found by its tag.
  const ec2 = ec2Client(aws.patched);
  try {
    const ours = async () =>
      (await ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${CREATED_BY_TAG}`, Values: [`hypersdk-export-${jobId}`] }] }))).Snapshots ?? [];
    let taken: string | undefined;
    for (let i = 0; i < 400 && !(taken && counter.reads(taken).length >= BLOCKS / 8); i++) {
      await new Promise((r) => setTimeout(r, 50));
      taken ??= (await ours())[0]?.SnapshotId;
    }
    expect(taken).toBeDefined();
    const readBeforeCancel = counter.reads(taken!).length;
    expect(readBeforeCancel).toBeGreaterThanOrEqual(BLOCKS / 8);
    expect(readBeforeCancel).toBeLessThan(BLOCKS);
    await handle.cancel();
    const outcome = await handle.result().then(() => 'completed', (err: unknown) => (err instanceof WorkflowFailedError ? err.cause?.name : String(err)));
    expect(outcome).toBe('CancelledFailure');
    expect(await ours()).toEqual([]);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    // No read of the seeded snapshot itself: the export read only its own.
    expect(counter.reads(instance.volumes[0]!.seeded.snapshotId)).toEqual([]);
  } finally {
    ec2.destroy();
  }
}, 120_000);
