import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Client } from '@temporalio/client';
import { EXPORT_WORKFLOW_TYPE, type ExportWorkflowInput } from '../../src/export/contract.js';
import type { exportVmWorkflow } from '../../src/workflows/export.js';
import { addDisk, vmDisks, writeVmDiskContent } from '../harness/vcsim-disks.js';
import type { ServiceInfo } from '../harness/services.js';

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
