// Regression (found by the fault-injection suite, test/faults): an NFC lease
// aborted behind the worker's back made the device URL answer 404, and the
// transfer activity, asking the provider whether the lease was gone, got
// LeaseLost (the provider's mapping of ManagedObjectNotFound on a lease call)
// and did not recognise it: the attempt was retried on the dead URL forever
// instead of handing the checkpoint to the workflow to reopen the lease.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../core/errors.js';
import type { SourceProvider } from '../core/source-provider.js';
import { LocalSink } from '../storage/local-sink.js';
import { ProviderPool } from '../worker/provider-pool.js';
import { SessionProgressRegistry } from './session-progress.js';
import { refuseIfInUse } from './staging.js';
import { createTransferActivity } from './transfer.js';
import type { TransferDiskInput, TransferredDisk } from './types.js';

const DISK_BYTES = 100_000;
const disk = randomBytes(DISK_BYTES);
let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hypersdk-transfer-activity-'));
  // A device URL of a lease that no longer exists: what vcsim (and vCenter) answer.
  // /disk: a file of DISK_BYTES (a datastore file or an NFC stream).
  server = createServer((req, res) => {
    if (req.url?.split('?')[0] === '/disk') res.writeHead(200, { 'content-length': String(DISK_BYTES) }).end(disk);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function activityWith(sessionState: () => Promise<string>, more: Partial<SourceProvider> = {}, restartWarningBytes?: number) {
  // A device of the lease, as the vSphere provider describes one: a stream, no exact size.
  const streamReader: SourceProvider['openDiskReader'] = (_vm, _key, via) =>
    via.kind === 'device'
      ? Promise.resolve({ source: { url: via.url, headers: {} }, reads: 'stream', encoding: 'sniff' })
      : Promise.reject(new Error('no datastore here'));
  const provider = { sessionState, openDiskReader: streamReader, ...more } as unknown as SourceProvider;
  const providers = new ProviderPool({
    profiles: { default: { url: 'https://vcenter.invalid/sdk', username: 'u', password: 'p', insecure: true } },
    defaultProfile: 'default',
    connect: () => Promise.resolve(provider),
    openSealed: () => {
      throw new Error('not used');
    },
  });
  return createTransferActivity({
    providers,
    sinks: { open: (ref) => Promise.resolve(new LocalSink(ref.kind === 'local' ? ref.directory : dir)) },
    sessionProgress: new SessionProgressRegistry(),
    checkpointEveryMs: 1_000,
    ...(restartWarningBytes !== undefined ? { restartWarningBytes } : {}),
  });
}

const input = (name: string): TransferDiskInput => ({
  jobId: 'job-1',
  source: { provider: 'vsphere', profile: 'default' },
  sink: { kind: 'local', directory: join(dir, name) },
  vm: { name: 'vm', disks: [] } as unknown as TransferDiskInput['vm'],
  diskKey: 2000,
  fileName: 'vm-disk1.vmdk',
  sizeBytes: 1024,
  mode: 'ovf',
  leaseId: 'session[abc]lease-1',
  deviceUrl: `${base}/nfc/session%5Babc%5Dlease-1/disk-0.vmdk`,
});

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('transferDisk activity on a lost lease', () => {
  it('hands LeaseLost (not a retryable 404) to the workflow when the lease object is gone', async () => {
    const lost = ApplicationFailure.create({ type: ErrorType.LeaseLost, message: 'lease session[abc]lease-1 is no longer usable (ManagedObjectNotFound)' });
    const activity = activityWith(() => Promise.reject(lost));
    const err = await failureOf(new MockActivityEnvironment().run(activity.transferDisk, input('lost')));
    expect(err.type).toBe(ErrorType.LeaseLost);
    expect(err.nonRetryable).toBe(true);
  });

  it('also when the provider reports the bare ManagedObjectNotFound (VmNotFound)', async () => {
    const gone = ApplicationFailure.create({ type: ErrorType.VmNotFound, message: 'ManagedObjectNotFound' });
    const activity = activityWith(() => Promise.reject(gone));
    const err = await failureOf(new MockActivityEnvironment().run(activity.transferDisk, input('gone')));
    expect(err.type).toBe(ErrorType.LeaseLost);
  });

  it('keeps a retryable transfer failure when the lease state cannot be read (vCenter unreachable)', async () => {
    const activity = activityWith(() => Promise.reject(new Error('connect ECONNREFUSED')));
    const err = await failureOf(new MockActivityEnvironment().run(activity.transferDisk, input('unreachable')));
    expect(err.type).toBe(ErrorType.TransferFailed);
    expect(err.nonRetryable).toBe(false);
  });

  it('a device URL answering 404 while its lease is still ready is SourceRefused: not retried', async () => {
    const activity = activityWith(() => Promise.resolve('ready'));
    const err = await failureOf(new MockActivityEnvironment().run(activity.transferDisk, input('ready')));
    expect(err.type).toBe(ErrorType.SourceRefused);
    expect(err.message).toMatch(/HTTP 404 Not Found/);
    expect(NON_RETRYABLE_ERROR_TYPES).toContain(ErrorType.SourceRefused);
  });
});

describe('transferDisk activity and the size known before the download', () => {
  const datastoreAt = (name: string, headSize: number) => {
    const activity = activityWith(() => Promise.resolve('ready'), {
      // What the provider's HEAD on the datastore file said.
      openDiskReader: () =>
        Promise.resolve({ source: { url: `${base}/disk?dcPath=DC0&token=secret`, headers: {}, sizeBytes: headSize }, reads: 'ranged', encoding: 'raw', exactBytes: headSize }),
    });
    const datastoreInput: TransferDiskInput = { ...input(name), mode: 'datastore', leaseId: undefined, deviceUrl: undefined };
    const run: Promise<TransferredDisk> = new MockActivityEnvironment().run(activity.transferDisk, datastoreInput);
    return { run, out: join(dir, name) };
  };

  it('datastore: a GET serving another size than the HEAD said → final SizeMismatch, nothing left in the output', async () => {
    const { run, out } = datastoreAt('ds-mismatch', DISK_BYTES + 1);
    const err = await failureOf(run);
    expect(err.type).toBe(ErrorType.SizeMismatch);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`${DISK_BYTES + 1}`);
    expect(err.message).toContain(`${DISK_BYTES}`);
    expect(err.message).not.toContain('secret');
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('datastore: the size the HEAD said → the file', async () => {
    const { run } = datastoreAt('ds-match', DISK_BYTES);
    expect((await run).bytes).toBe(DISK_BYTES);
  });

  it('ovf: the lease size (an estimate, or the capacity) does not hold the stream', async () => {
    const activity = activityWith(() => Promise.resolve('ready'));
    const nfcInput: TransferDiskInput = { ...input('nfc'), sizeBytes: 1024, deviceUrl: `${base}/disk` };
    const done: TransferredDisk = await new MockActivityEnvironment().run(activity.transferDisk, nfcInput);
    expect(done.bytes).toBe(DISK_BYTES);
  });
});

describe('a staged record of another job', () => {
  const record = (ageMs: number, verified = false) => ({
    version: 1 as const,
    jobId: 'job-a',
    verified,
    source: {},
    updatedAt: new Date(Date.now() - ageMs).toISOString(),
  });

  it('refuses (OutputInUse) while that job is still writing, and names it', () => {
    let err: unknown;
    try {
      refuseIfInUse(record(10_000), 'vm-disk1.vmdk');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(ErrorType.OutputInUse);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toContain('export job-a is writing vm-disk1.vmdk');
  });

  it('lets a stale unverified record or a verified copy be taken over', () => {
    expect(() => refuseIfInUse(record(10 * 60_000), 'vm-disk1.vmdk')).not.toThrow();
    expect(() => refuseIfInUse(record(1_000, true), 'vm-disk1.vmdk')).not.toThrow();
  });
});

describe('an NFC transfer that must start over', () => {
  it('warns with the bytes lost once they pass the configured threshold', async () => {
    const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
    const logger = {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (message: string, meta?: Record<string, unknown>) => warnings.push({ message, ...(meta ? { meta } : {}) }),
      error: () => undefined,
    };
    const activity = activityWith(() => Promise.resolve('ready'), {}, 1024 * 1024);
    const resumeFrom = { version: 1, offset: 3 * 1024 * 1024, sink: { kind: 'local' }, hash: { algorithm: 'sha256', kind: 'reread-prefix' }, source: {} };
    await new MockActivityEnvironment(undefined, { logger })
      .run(activity.transferDisk, { ...input('restart'), resumeFrom })
      .catch(() => undefined);
    const warning = warnings.find((w) => w.message.includes('cannot resume'));
    expect(warning?.meta).toMatchObject({ disk: 'vm-disk1.vmdk', bytesLost: 3 * 1024 * 1024 });

    warnings.length = 0;
    await new MockActivityEnvironment(undefined, { logger })
      .run(activityWith(() => Promise.resolve('ready'), {}, 16 * 1024 * 1024).transferDisk, { ...input('small'), resumeFrom })
      .catch(() => undefined);
    expect(warnings.filter((w) => w.message.includes('cannot resume'))).toEqual([]);
  });
});
