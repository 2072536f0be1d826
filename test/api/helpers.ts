// Shared set-up for the gateway tests: a config on a temporary data directory,
// a Temporal client for the harness's dev server, and the in-process app.
import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createApp } from '../../src/api/app.js';
import type { ProviderFactory } from '../../src/api/deps.js';
import { loadConfig } from '../../src/config/load.js';
import type { HyperConfig } from '../../src/config/types.js';

export interface TestGateway {
  config: HyperConfig;
  client: Client;
  connection: Connection;
  request: (path: string, init?: RequestInit) => Promise<Response>;
  close(): Promise<void>;
}

export const noProvider: ProviderFactory = () => Promise.reject(new Error('no vCenter in this test'));

export async function testConfig(env: Record<string, string> = {}): Promise<HyperConfig> {
  const { temporal } = inject('services');
  const dataDir = mkdtempSync(join(tmpdir(), 'hypersdk-api-'));
  const { config } = await loadConfig({
    env: {
      HYPERSDK_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      // A queue of its own: lists and counts see only this test's jobs.
      HYPERSDK_TASK_QUEUE: `api-test-${randomUUID()}`,
      GOVC_URL: 'https://vcenter.invalid/sdk',
      GOVC_USERNAME: 'svc',
      GOVC_PASSWORD: 'profile-password',
      ...env,
    },
  });
  return config;
}

export async function createTestGateway(
  options: { env?: Record<string, string>; providerFactory?: ProviderFactory } = {},
): Promise<TestGateway> {
  const config = await testConfig(options.env);
  const connection = await Connection.connect({ address: config.temporal.address! });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const { app, close } = createApp({
    config,
    temporalClient: client,
    providerFactory: options.providerFactory ?? noProvider,
    startedAt: new Date(),
  });
  return {
    config,
    client,
    connection,
    request: async (path, init) => app.request(path, init),
    close: async () => {
      await close();
      await connection.close();
    },
  };
}

export { startStubWorker } from './fixtures/stub-worker.js';

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

export const yaml = (text: string): RequestInit => ({ method: 'POST', headers: { 'Content-Type': 'application/yaml' }, body: text });

/** Polls until `check` returns a value (bounded). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
