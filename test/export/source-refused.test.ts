// A datastore GET answered 403 or 404 can never succeed on a retry: the export
// must fail at once (first attempt, non-retryable) naming the file and the status,
// not retry TransferFailed for two days. vcsim never refuses /folder reads, so the
// worker's provider points the disk's GET at a loopback server that answers the
// refusal; the HEAD, the inventory, the workflow and the cleanup are all real.
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { VmDescription } from '../../src/core/vm-description.js';
import { exportInput, testConfig } from '../harness/export-env.js';
import { startAdaptedWorker, type AdaptedWorker } from '../harness/adapted-worker.js';
import { letStandInsThrough } from '../harness/download-stand-ins.js';
import { activityRuns } from '../harness/history.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
/** The status the loopback "datastore" answers every GET with. */
let status = 403;
const gets: string[] = [];
let refuser: Server | undefined;
let refuserBase = '';
let adapted: AdaptedWorker | undefined;
let temporal: AdaptedWorker['temporal'] | undefined;

beforeAll(async () => {
  refuser = createServer((req, res) => {
    gets.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': 'text/plain' }).end('refused by the test');
  });
  await new Promise<void>((resolve) => refuser?.listen(0, '127.0.0.1', resolve));
  refuserBase = `http://127.0.0.1:${(refuser.address() as AddressInfo).port}`;
  adapted = await startAdaptedWorker(config, (provider) => {
    const real = provider.datastoreDiskSource.bind(provider);
    // The real HEAD on vcsim (size, validators); the GET goes to the refusing server, same path.
    provider.datastoreDiskSource = async (vm: VmDescription, diskKey: number) => {
      const source = await real(vm, diskKey);
      const url = new URL(source.url);
      return { ...source, url: `${refuserBase}${url.pathname}${url.search}` };
    };
    letStandInsThrough(provider, (url) => url.origin === refuserBase);
  });
  temporal = adapted.temporal;
});
afterAll(async () => {
  await adapted?.stop();
  refuser?.close();
});

describe('a datastore that refuses the disk file', () => {
  for (const [code, reason] of [
    [403, 'Forbidden'],
    [404, 'Not Found'],
  ] as const) {
    it(`answering ${code}: the export fails at once, non-retryably, naming the file and the status`, async () => {
      status = code;
      const name = `refused${code}-${randomBytes(3).toString('hex')}`;
      const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 4 * MiB, poweredOn: false });
      const outDir = join(config.output.allowedRoots[0]!, name);
      const started = Date.now();
      const handle = await startExport(
        temporal!.client,
        config.temporal.taskQueue,
        exportInput(`${name}-job`, vm.path, { kind: 'local', directory: outDir }, { method: 'datastore' }),
      );
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      // Well within the first retry's backoff: nothing waited for a second attempt.
      expect(Date.now() - started).toBeLessThan(30_000);

      expect(err).toBeInstanceOf(WorkflowFailedError);
      const top = (err as WorkflowFailedError).cause;
      expect(top).toBeInstanceOf(ApplicationFailure);
      expect((top as ApplicationFailure).type).toBe('SourceRefused');
      const activity = top?.cause;
      expect(activity).toBeInstanceOf(ActivityFailure);
      expect((activity as ActivityFailure).activityType).toBe('transferDisk');
      expect((activity as ActivityFailure).retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
      const root = (activity as ActivityFailure).cause;
      expect(root).toBeInstanceOf(ApplicationFailure);
      expect((root as ApplicationFailure).type).toBe('SourceRefused');
      const message = (root as ApplicationFailure).message;
      expect(message).toMatch(new RegExp(`/folder/${name}/[^ ]*\\.vmdk: HTTP ${code} ${reason}`));
      expect(message).not.toContain('dcPath'); // no query string in messages

      const transfers = (await activityRuns(handle)).filter((r) => r.type === 'transferDisk');
      expect(transfers.map((t) => [t.attempt, t.outcome])).toEqual([[1, 'failed']]);
      expect(gets.filter((g) => g.includes(`/folder/${name}/`))).toHaveLength(1);
      // Cleanup removed the job's partial.
      expect(existsSync(outDir) ? readdirSync(outDir) : []).toEqual([]);
    });
  }
});
