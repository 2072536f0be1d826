// The worker enforces its own rules, whatever the workflow input says: exports
// started straight through the Temporal client (no gateway in the way) with an
// output outside the allowed roots, an unlisted bucket or an unlisted vCenter fail
// at once, non-retryably, and write nothing; no credential or cookie leaves for a
// host the configuration does not name.
import { CreateBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createExportActivities, SessionProgressRegistry } from '../../src/activities/index.js';
import type { DescribeInput, TransferDiskInput } from '../../src/activities/types.js';
import { sealCredentials } from '../../src/config/secrets.js';
import type { VmDescription } from '../../src/core/vm-description.js';
import { reportedHosts } from '../../src/providers/vsphere/download-hosts.js';
import { connectVsphere } from '../../src/providers/vsphere/index.js';
import type { VsphereProvider } from '../../src/providers/vsphere/provider.js';
import { ProviderPool } from '../../src/worker/provider-pool.js';
import { createSinkFactory } from '../../src/worker/sinks.js';
import { minioClient } from '../harness/minio-client.js';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { activityRuns } from '../harness/history.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
// Only one prefix of the test bucket: the rest of it, and every other bucket, is refused.
config.s3.allowedBuckets = [`${services.minio.bucket}/allowed-prefix`];
const MiB = 1024 * 1024;
const temporal = useWorkerAndClient(config);
const s3 = minioClient(services);

/** A loopback TCP listener that records every connection (none may arrive). */
let listener: Server;
let connections = 0;
let listenerHost = '';
beforeAll(async () => {
  listener = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  listenerHost = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  s3.destroy();
  await new Promise((resolve) => listener.close(resolve));
});

let vm: { path: string } | undefined;
async function testVm(): Promise<{ path: string }> {
  vm ??= await createTestVm(services, `rules-${randomBytes(3).toString('hex')}`, {
    disks: 1,
    sizeBytes: 64 * MiB,
    poweredOn: false,
  });
  return vm;
}

/**
 * The whole cause chain of a refused export: WorkflowFailedError → the workflow's
 * ApplicationFailure (the root type surfaced) → ActivityFailure of `activity`, not
 * retried → the worker's ApplicationFailure of `type`, whose message names `key`.
 * The activity ran exactly once (attempt 1).
 */
async function expectRefused(
  handle: WorkflowHandle,
  activity: string,
  type: string,
  key: RegExp,
): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the export must fail').toBeInstanceOf(WorkflowFailedError);
  const top = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(top).toBeInstanceOf(ApplicationFailure);
  expect(top.type).toBe(type);
  const act = top.cause;
  expect(act).toBeInstanceOf(ActivityFailure);
  expect((act as ActivityFailure).activityType).toBe(activity);
  expect((act as ActivityFailure).retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
  const root = act!.cause as ApplicationFailure;
  expect(root).toBeInstanceOf(ApplicationFailure);
  expect(root.type).toBe(type);
  expect(root.nonRetryable).toBe(true);
  expect(root.message).toMatch(key);
  const runs = (await activityRuns(handle)).filter((r) => r.type === activity);
  expect(runs.map((r) => [r.attempt, r.outcome])).toEqual([[1, 'failed']]);
  return root;
}

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return [
    ...(listed.Contents ?? []).map((o) => o.Key!),
    ...(uploads.Uploads ?? []).map((u) => `upload:${u.Key!}`),
  ];
}

describe('the worker enforces its own rules on workflow input', () => {
  it('an output directory outside output.allowed_roots fails non-retryably and nothing is created there', async () => {
    const { path } = await testVm();
    const outsideRoot = join(services.workDir, `not-a-root-${randomBytes(3).toString('hex')}`);
    mkdirSync(outsideRoot);
    const target = join(outsideRoot, 'job');
    for (const overwrite of [false, true]) {
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(
          `rules-out-${overwrite}-${randomBytes(3).toString('hex')}`,
          path,
          { kind: 'local', directory: target },
          { overwrite },
        ),
      );
      await expectRefused(handle, 'checkOutput', 'OutputNotAllowed', /output\.allowed_roots in its configuration file, or HYPERSDK_OUTPUT_ROOTS/);
    }
    expect(readdirSync(outsideRoot)).toEqual([]);
  });

  it('a symlink swapped in for the output directory after submit redirects no byte: its target stays empty', async () => {
    const { path } = await testVm();
    const decoy = join(services.workDir, `decoy-${randomBytes(3).toString('hex')}`);
    mkdirSync(decoy);
    const dir = join(config.output.allowedRoots[0]!, `swap-${randomBytes(3).toString('hex')}`);
    // The gateway would have checked this path: inside the root, a plain directory.
    mkdirSync(dir);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`rules-swap-${randomBytes(3).toString('hex')}`, path, { kind: 'local', directory: dir }),
    );
    // Then, before or while the worker writes, the directory becomes a symlink to elsewhere.
    renameSync(dir, `${dir}.moved`);
    symlinkSync(decoy, dir);
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(readdirSync(decoy)).toEqual([]);
    expect((err as WorkflowFailedError | undefined)?.cause).toMatchObject({ type: 'OutputNotAllowed' });
  });

  it('a symlink swapped in while a transfer writes redirects no byte: the opened directory keeps receiving them', async () => {
    const name = `rules-mid-${randomBytes(3).toString('hex')}`;
    const { path } = await createTestVm(services, name, { disks: 1, sizeBytes: 128 * MiB, poweredOn: false });
    const decoy = join(services.workDir, `decoy-${name}`);
    mkdirSync(decoy);
    const dir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`rules-mid-${name}`, path, { kind: 'local', directory: dir }, { method: 'datastore' }),
    );
    // Once the transfer has opened the directory and its partial, swap the directory for a symlink.
    const partial = join(dir, `.${name}-disk1.vmdk.partial`);
    const deadline = Date.now() + 60_000;
    while (!existsSync(partial) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(existsSync(partial), 'the transfer started').toBe(true);
    renameSync(dir, `${dir}.moved`);
    symlinkSync(decoy, dir);
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(readdirSync(decoy)).toEqual([]);
    // The bytes in flight went on into the directory the worker opened (now under its new name);
    // the activities after it open the path again and refuse it.
    expect(
      readdirSync(`${dir}.moved`).some(
        (f) => f.startsWith(`.${name}-disk1.vmdk.`) || f === `${name}-disk1.vmdk`,
      ),
    ).toBe(true);
    expect((err as WorkflowFailedError | undefined)?.cause).toMatchObject({ type: 'OutputNotAllowed' });
  });

  it('an unlisted bucket, or a prefix of a listed bucket outside its allowed prefix, fails non-retryably and writes no object', async () => {
    const { path } = await testVm();
    const other = `rules-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: other }));
    for (const [bucket, prefix] of [
      [other, 'exports/'],
      [services.minio.bucket, 'elsewhere/'],
    ] as const) {
      const before = await keysUnder(bucket, '');
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(`rules-s3-${randomBytes(3).toString('hex')}`, path, { kind: 's3', bucket, prefix }),
      );
      await expectRefused(handle, 'checkOutput', 'BucketNotAllowed', /s3\.allowed_buckets/);
      expect(await keysUnder(bucket, '')).toEqual(before);
    }
  });

  it('format ova into an allowed bucket fails in checkOutput, before any disk is read, and writes no object', async () => {
    const { path } = await testVm();
    const prefix = `allowed-prefix/ova-${randomBytes(3).toString('hex')}/`;
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`rules-ova-${randomBytes(3).toString('hex')}`, path, { kind: 's3', bucket: services.minio.bucket, prefix }, { format: 'ova' }),
    );
    const failure = await expectRefused(handle, 'checkOutput', 'NotSupported', /format ova: .*\.ova is packed in a local output directory; use format ovf for S3/);
    expect(failure.nonRetryable).toBe(true);
    expect((await activityRuns(handle)).filter((r) => r.type === 'transferDisk')).toEqual([]);
    expect(await keysUnder(services.minio.bucket, prefix)).toEqual([]);
  });

  it('inline credentials for an unlisted vCenter, or over http://, fail non-retryably before any connection', async () => {
    const { path } = await testVm();
    for (const [server, key] of [
      [`https://${listenerHost}/sdk`, /vsphere\.allowed_hosts/],
      [`http://${services.vcsim.host}/sdk`, /vsphere\.allow_insecure_http/],
    ] as const) {
      const jobId = `rules-vc-${randomBytes(3).toString('hex')}`;
      const sealed = sealCredentials(
        config.secretsKey,
        { server, username: services.vcsim.username, password: 'the-password', insecure: true },
        jobId,
      );
      const dir = join(config.output.allowedRoots[0]!, `vc-${randomBytes(3).toString('hex')}`);
      const handle = await startExport(
        temporal.client,
        config.temporal.taskQueue,
        exportInput(
          jobId,
          path,
          { kind: 'local', directory: dir },
          { source: { provider: 'vsphere', sealedCredentials: sealed } },
        ),
      );
      await expectRefused(handle, 'describeVm', 'VcenterNotAllowed', key);
      expect(existsSync(dir), 'nothing is written for a refused source').toBe(false);
    }
    expect(connections).toBe(0);
  });

  it('a lease device URL on a host vCenter did not name is refused before the session cookie is sent', async () => {
    const { path } = await testVm();
    const providers = new ProviderPool({
      profiles: config.vsphere.profiles,
      defaultProfile: config.vsphere.defaultProfile,
      connect: (p) => connectVsphere(p),
      openSealed: () => {
        throw new Error('no inline credentials here');
      },
    });
    const sinks = createSinkFactory(config.s3, {
      allowedRoots: config.output.allowedRoots,
      allowedBuckets: [],
    });
    try {
      const activities = createExportActivities(
        { providers, sinks, sessionProgress: new SessionProgressRegistry(), checkpointEveryMs: 1_000 },
        { taskQueue: 'unused', identity: 'unused', lostTimeoutMs: 60_000 },
      );
      const source = { provider: 'vsphere' as const, profile: 'default' };
      const described: VmDescription = await new MockActivityEnvironment().run(
        (i: DescribeInput) => activities.describeVm(i),
        {
          source,
          vmPath: path,
        },
      );
      const disk = described.disks[0]!;
      const dir = join(config.output.allowedRoots[0]!, `dev-${randomBytes(3).toString('hex')}`);
      const err = await new MockActivityEnvironment()
        .run((i: TransferDiskInput) => activities.transferDisk(i), {
          jobId: 'rules-device',
          source,
          sink: { kind: 'local' as const, directory: dir },
          vm: described,
          diskKey: disk.key,
          fileName: 'disk.vmdk',
          sizeBytes: disk.capacityBytes,
          mode: 'ovf' as const,
          leaseId: 'lease-1',
          deviceUrl: `https://${listenerHost}/nfc/disk-0.vmdk`,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: 'DeviceHostNotAllowed', nonRetryable: true });
      expect(connections).toBe(0);
      // Another host name: the ESXi hosts vCenter reports are asked (property collector), and it is none of them.
      const provider = (await providers.get(source)) as VsphereProvider;
      await expect(provider.checkDownloadUrl('https://203.0.113.7/nfc/disk-0.vmdk')).rejects.toMatchObject({
        type: 'DeviceHostNotAllowed',
      });
      const hosts = [...(await reportedHosts(provider.session))];
      expect(hosts.length).toBeGreaterThan(0);
      await provider.checkDownloadUrl(`https://${hosts[0]!}/nfc/disk-0.vmdk`);
    } finally {
      await providers.closeAll();
      sinks.close();
    }
  });
});
