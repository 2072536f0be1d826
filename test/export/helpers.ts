import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TransferredDisk } from '../../src/activities/types.js';
import { EXPORT_WORKFLOW_TYPE, type ExportWorkflowInput, type TransferHeartbeat } from '../../src/core/export-contract.js';
import type { exportVmWorkflow } from '../../src/workflows/export.js';
import { govc } from '../harness/govc.js';
import { activityResults } from '../harness/history.js';
import { addDisk, vmDisks, writeVmDiskContent } from '../harness/vcsim-disks.js';
import type { ServiceInfo } from '../harness/services.js';
import { createProxy, type Proxy } from '../harness/toxiproxy.js';
import { startVcsim } from '../../src/devservices/vcsim.js';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Gives `vm` exactly `count` disks filled with known content; returns their SHA-256 by disk key. */
export async function prepareVmDisks(
  services: ServiceInfo,
  vm: string,
  count: number,
  sizeBytes: number,
  seed: string,
): Promise<Map<number, string>> {
  let disks = await vmDisks(services, vm);
  for (let i = disks.length; i < count; i++) {
    await addDisk(services, vm, { name: `${vm}/extra${i}`, sizeBytes });
  }
  disks = await vmDisks(services, vm);
  const hashes = new Map<number, string>();
  for (const [i, disk] of disks.entries()) {
    const written = await writeVmDiskContent(services, vm, { sizeBytes, seed: `${seed}-${i}`, diskKey: disk.key });
    hashes.set(disk.key, written.sha256);
  }
  return hashes;
}

export function startExport(client: Client, taskQueue: string, input: ExportWorkflowInput) {
  return client.workflow.start<typeof exportVmWorkflow>(EXPORT_WORKFLOW_TYPE, {
    taskQueue,
    workflowId: input.jobId,
    args: [input],
  });
}

/**
 * Creates a VM of its own for a test (so test files running in parallel never
 * share one) with `disks` disks of known content. Returns the inventory path and
 * the SHA-256 of each disk by key.
 */
export async function createTestVm(
  services: ServiceInfo,
  name: string,
  options: { disks: number; sizeBytes: number; poweredOn: boolean },
): Promise<{ path: string; hashes: Map<number, string> }> {
  await govc(services, [
    'vm.create',
    '-m', '256', '-c', '1', '-g', 'ubuntu64Guest', '-net', 'VM Network',
    '-ds', 'LocalDS_0', '-pool', '/DC0/host/DC0_C0/Resources',
    '-disk', `${Math.ceil(options.sizeBytes / (1 << 20))}MB`,
    `-on=${options.poweredOn}`,
    name,
  ]);
  const hashes = await prepareVmDisks(services, name, options.disks, options.sizeBytes, name);
  return { path: `/DC0/vm/${name}`, hashes };
}

/** Live transfer state from the pending activities' heartbeat details (what the gateway shows). */
export async function pendingTransfers(handle: WorkflowHandle): Promise<TransferHeartbeat[]> {
  const description = await handle.describe();
  const beats: TransferHeartbeat[] = [];
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const details = defaultPayloadConverter.fromPayload<TransferHeartbeat>(payload);
    if (details && typeof details === 'object' && 'diskKey' in details) beats.push(details);
  }
  return beats;
}

/** Polls until `predicate` holds for the live transfers (bounded by `timeoutMs`). */
export async function waitForTransfers(
  handle: WorkflowHandle,
  predicate: (beats: TransferHeartbeat[]) => boolean,
  timeoutMs = 120_000,
): Promise<TransferHeartbeat[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const beats = await pendingTransfers(handle);
    if (predicate(beats)) return beats;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`transfers did not reach the expected state within ${timeoutMs} ms`);
}

/** Results of the completed transferDisk activities, read from the workflow history. */
export function transferResults(handle: WorkflowHandle): Promise<TransferredDisk[]> {
  return activityResults<TransferredDisk>(handle, 'transferDisk');
}

/**
 * A vcsim of the caller's own whose every byte (SOAP, NFC, /folder) crosses a
 * toxiproxy with a bandwidth limit, so there is time to hurt a transfer mid-way.
 * `services` is the harness's with that vcsim; connect workers to `proxy.listen`.
 */
export async function throttledVcsim(harness: ServiceInfo, label: string, rateKBps: number): Promise<{ services: ServiceInfo; proxy: Proxy; stop: () => Promise<void> }> {
  const workDir = join(harness.workDir, `${label}-${randomBytes(3).toString('hex')}`);
  mkdirSync(workDir, { recursive: true });
  const vcsim = await startVcsim({ workDir });
  const proxy = await createProxy(harness.toxiproxy.apiUrl, `vcsim-${label}-${randomBytes(3).toString('hex')}`, vcsim.host);
  const services: ServiceInfo = { ...harness, vcsim: { ...vcsim, host: vcsim.host } };
  // NFC lease URLs name the server's own address; make vcsim advertise the proxy instead.
  await govc(services, ['option.set', 'vcsim.server.url', `https://${proxy.listen}/sdk`]);
  await proxy.addToxic({ name: 'bandwidth', type: 'bandwidth', attributes: { rate: rateKBps } });
  return {
    services,
    proxy,
    stop: async () => {
      await proxy.remove();
      await vcsim.stop();
    },
  };
}
