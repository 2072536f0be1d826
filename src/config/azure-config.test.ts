// The azure section: the subscription and resource group of Azure jobs and VM
// lists that name none, Resource Manager's endpoint and an extra CA for it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AZURE_RESOURCE_MANAGER, ConfigError, loadConfig } from './load.js';

const SUBSCRIPTION = '0b5c1c6e-8f8e-4d4c-9a55-3c8d6f4b2a10';

function configFile(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-azure-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

async function errorOf(text: string): Promise<ConfigError> {
  const { dir, file } = configFile(text);
  return loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir }, persistSecretsKey: false }).then(
    () => {
      throw new Error('loaded');
    },
    (e: unknown) => e as ConfigError,
  );
}

describe('azure config', () => {
  it("defaults to Azure's public Resource Manager and no subscription", async () => {
    const { dir } = configFile('');
    const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir }, persistSecretsKey: false });
    expect(config.azure).toEqual({ resourceManagerEndpoint: AZURE_RESOURCE_MANAGER });
  });

  it('comes from the file, and AZURE_SUBSCRIPTION_ID / HYPERSDK_AZURE_* win over it', async () => {
    const { dir, file } = configFile(
      `azure:\n  subscription_id: ${SUBSCRIPTION}\n  resource_group: rg-prod.eu(1)\n  resource_manager_endpoint: https://management.usgovcloudapi.net\n  ca_file: /etc/ssl/private-ca.pem\n`,
    );
    const fromFile = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir }, persistSecretsKey: false });
    expect(fromFile.config.azure).toEqual({
      subscriptionId: SUBSCRIPTION,
      resourceGroup: 'rg-prod.eu(1)',
      resourceManagerEndpoint: 'https://management.usgovcloudapi.net',
      caFile: '/etc/ssl/private-ca.pem',
    });
    const other = '11111111-2222-4333-8444-555555555555';
    const fromEnv = await loadConfig({
      file,
      env: { HYPERSDK_DATA_DIR: dir, AZURE_SUBSCRIPTION_ID: other, HYPERSDK_AZURE_RESOURCE_MANAGER_ENDPOINT: 'https://127.0.0.1:8443' },
      persistSecretsKey: false,
    });
    expect(fromEnv.config.azure).toMatchObject({ subscriptionId: other, resourceManagerEndpoint: 'https://127.0.0.1:8443' });
  });

  it.each([
    ['subscription_id: my-subscription', 'azure.subscription_id', 'must be a subscription id (a GUID such as'],
    ['resource_group: "rg."', 'azure.resource_group', 'must be a resource group name'],
    ['resource_manager_endpoint: http://management.azure.com', 'azure.resource_manager_endpoint', 'must be an https:// URL'],
  ])('%s is refused naming the key', async (line, key, message) => {
    const err = await errorOf(`azure:\n  ${line}\n`);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues).toEqual([{ key: expect.stringMatching(new RegExp(`^${key.replace('.', '\\.')} \\(.*config\\.yaml line 2\\)$`)) as unknown, line: 2, message: expect.stringContaining(message) as unknown }]);
  });
});
