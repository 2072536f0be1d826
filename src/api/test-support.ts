// For unit tests: the gateway in-process (app.request) on a stand-in for the
// Temporal client that records the workflows started and describes them back as
// running, from the memo the gateway wrote. What a real Temporal server does with
// them is the integration tests' business (test/api); here it is what the gateway
// sends. Not part of the build (tsconfig.build.json excludes test-support.ts).
import { serve } from '@hono/node-server';
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { HyperConfig } from '../config/types.js';
import type { ExportResult, ExportWorkflowInput } from '../core/export-contract.js';
import type { SourceProvider } from '../core/source-provider.js';
import type { VmDescription } from '../core/vm-description.js';
import { createApp } from './app.js';
import type { AwsProviderFactory, AzureProviderFactory, ProviderFactory } from './deps.js';

export interface StartedWorkflow {
  workflowType: string;
  options: WorkflowStartOptions;
}

/**
 * A Temporal client that keeps started workflows in memory and describes them as
 * running or, once `complete` gave one its result (or `autoComplete` did at its
 * start), as completed with that result.
 */
export function recordingTemporal(options: { autoComplete?: (input: ExportWorkflowInput) => ExportResult } = {}): {
  client: Client;
  started: StartedWorkflow[];
  complete(workflowId: string, result: ExportResult): void;
} {
  const started: StartedWorkflow[] = [];
  const results = new Map<string, ExportResult>();
  const startedAt = new Map<string, Date>();
  const workflow = {
    start: (workflowType: string, start: WorkflowStartOptions) => {
      if (started.some((s) => s.options.workflowId === start.workflowId)) {
        return Promise.reject(new WorkflowExecutionAlreadyStartedError('already started', start.workflowId, workflowType));
      }
      started.push({ workflowType, options: start });
      startedAt.set(start.workflowId, new Date());
      const input = (start.args as ExportWorkflowInput[] | undefined)?.[0];
      if (options.autoComplete && input) results.set(start.workflowId, options.autoComplete(input));
      return Promise.resolve({ workflowId: start.workflowId });
    },
    getHandle: (workflowId: string) => ({
      describe: () => {
        const found = started.find((s) => s.options.workflowId === workflowId);
        if (!found) return Promise.reject(new WorkflowNotFoundError(`workflow ${workflowId} not found`, workflowId, undefined));
        const done = results.has(workflowId);
        return Promise.resolve({
          type: found.workflowType,
          taskQueue: found.options.taskQueue,
          workflowId,
          runId: `run-${workflowId}`,
          status: { name: done ? 'COMPLETED' : 'RUNNING' },
          memo: found.options.memo,
          startTime: startedAt.get(workflowId)!,
          ...(done ? { closeTime: new Date() } : {}),
          // No workflow task has run yet: the store asks no worker for progress.
          historyLength: 2,
          raw: { pendingActivities: [] },
        });
      },
      result: () => {
        const result = results.get(workflowId);
        return result ? Promise.resolve(result) : Promise.reject(new Error(`workflow ${workflowId} has not completed`));
      },
    }),
  };
  return { client: { workflow } as unknown as Client, started, complete: (id, result) => results.set(id, result) };
}

/** What an export of `input` would answer: one image and its descriptor, in its output directory. */
export function exportResultOf(input: ExportWorkflowInput): ExportResult {
  const dir = input.sink.kind === 'local' ? input.sink.directory : `s3://${input.sink.bucket}/${input.sink.prefix}`;
  const disk = { name: `${input.jobName}-disk1.${input.format === 'raw' ? 'raw' : 'qcow2'}`, sizeBytes: 1024, sha256: '0'.repeat(64) };
  return {
    vmName: input.jobName,
    method: 'datastore',
    outputDir: dir,
    ovfPath: `${dir}/${input.jobName}.ovf`,
    manifestPath: `${dir}/${input.jobName}.mf`,
    files: [disk],
    totalSize: disk.sizeBytes,
    durationMs: 1_000,
  };
}

export async function unitConfig(env: Record<string, string> = {}): Promise<HyperConfig> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-unit-api-'));
  const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dataDir, ...env }, persistSecretsKey: false });
  return config;
}

export const noVcenter: ProviderFactory = () => Promise.reject(new Error('no vCenter in this test'));

/** An AWS provider that lists `vms` and describes them by id; what it was opened for is recorded by the caller's factory. */
export function fakeAwsProvider(vms: VmDescription[]): SourceProvider & { loggedOut: number } {
  const provider = {
    loggedOut: 0,
    listVms: () => Promise.resolve(vms),
    describeVm: (ref: string) => {
      const vm = vms.find((v) => v.id === ref || v.name === ref);
      return vm ? Promise.resolve(vm) : Promise.reject(Object.assign(new Error(`instance ${ref} not found`), { type: 'VmNotFound' }));
    },
    logout: () => {
      provider.loggedOut++;
      return Promise.resolve();
    },
  };
  return provider as unknown as SourceProvider & { loggedOut: number };
}

export interface UnitGateway {
  config: HyperConfig;
  started: StartedWorkflow[];
  request: (path: string, init?: RequestInit) => Promise<Response>;
  /** Serves the app on 127.0.0.1 (for the CLIs, which speak HTTP); resolves to its URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function unitGateway(
  options: {
    env?: Record<string, string>;
    awsProviderFactory?: AwsProviderFactory;
    azureProviderFactory?: AzureProviderFactory;
    autoComplete?: (input: ExportWorkflowInput) => ExportResult;
  } = {},
): Promise<UnitGateway> {
  const config = await unitConfig(options.env);
  const { client, started } = recordingTemporal(options.autoComplete ? { autoComplete: options.autoComplete } : {});
  const { app, close } = createApp({
    config,
    temporalClient: client,
    providerFactory: noVcenter,
    awsProviderFactory: options.awsProviderFactory ?? (() => Promise.reject(new Error('no AWS in this test'))),
    azureProviderFactory: options.azureProviderFactory ?? (() => Promise.reject(new Error('no Azure in this test'))),
    startedAt: new Date(),
  });
  let server: ReturnType<typeof serve> | undefined;
  return {
    config,
    started,
    request: async (path, init) => app.request(path, init),
    listen: () =>
      new Promise<string>((resolve) => {
        server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}`));
      }),
    close: async () => {
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          (s as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
      }
      await close();
    },
  };
}

export const postJson = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

/** An EC2 instance as the AWS provider describes it (path /<region>/<id>). */
export function awsInstance(id: string, name: string, region = 'eu-west-1'): VmDescription {
  return {
    id,
    name,
    path: `/${region}/${id}`,
    powerState: 'poweredOn',
    guestId: 'linux',
    guestFullName: 'Linux/UNIX',
    numCpu: 2,
    memoryMb: 4096,
    storageBytes: 8 * 1024 ** 3,
    provider: 'aws',
    instanceUuid: id,
    biosUuid: '',
    firmware: 'efi',
    hasSnapshots: false,
    datacenter: region,
    disks: [{ key: 0, label: '/dev/xvda', capacityBytes: 8 * 1024 ** 3, backingFile: 'vol-0aaa', datastore: `${region}a`, thin: true, controllerKey: 0, controllerType: 'nvme', unitNumber: 0 }],
    nics: [],
    cdroms: [],
  };
}

/** An Azure VM as the provider describes it: its resource id is its id and path. */
export function azureVm(subscriptionId: string, resourceGroup: string, name: string): VmDescription {
  const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`;
  return {
    ...awsInstance(id, name),
    path: id,
    provider: 'azure',
    datacenter: 'westeurope',
    disks: [{ key: 0, label: 'os', capacityBytes: 30 * 1024 ** 3, backingFile: `${name}_OsDisk`, datastore: resourceGroup, thin: true, controllerKey: 0, controllerType: 'scsi', unitNumber: 0 }],
  };
}
