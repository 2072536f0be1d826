// hyperexport -provider azure with no daemon: the process reads Resource Manager
// (the stand-in) with its own Azure credential chain (the stand-in's managed
// identity endpoint, through the standard variables), the snapshot pages from
// Azurite, and exports on an in-process worker. qemu-img judges the disk; the
// stand-in says the snapshots were deleted and nothing was left behind.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, inject, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { freePort } from '../../src/devservices/ports.js';
import { seedVm, SUBSCRIPTION, useAzureExports, type SeededVm } from '../harness/azure-export-env.js';
import { runBin } from '../harness/run-bin.js';

const azure = inject('azure');
const env = useAzureExports(azure, { worker: false });
const MiB = 2 ** 20;
let vm: SeededVm;
let work: string;

beforeAll(async () => {
  work = join(env.config.output.allowedRoots[0]!, 'hx-standalone');
  vm = await seedVm(azure, env.fake, {
    name: 'hx-web',
    resourceGroup: 'rg-hx',
    dir: join(work, 'expected'),
    disks: [{ sizeBytes: 16 * MiB, ranges: [{ offset: 0, length: 64 * 1024 }, { offset: 9 * MiB, length: 2 * MiB + 512 }] }],
  });
}, 60_000);

/** A shell with an Azure login (the stand-in's identity), the subscription, and nothing of this test run's own. */
function azureShell(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AZURE_|IDENTITY_|MSI_|IMDS_|AWS_|GOVC_|TEMPORAL_|HYPERSDK_|HYPERVISOR)/.test(k)));
  return {
    ...inherited,
    NO_COLOR: '',
    ...env.fake.identityEnv(),
    AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential',
    AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
    HYPERSDK_AZURE_RESOURCE_MANAGER_ENDPOINT: env.fake.endpoint,
    HYPERSDK_AZURE_CA_FILE: env.fake.caFile,
    TEMPORAL_ADDRESS: azure.temporal.address,
    TEMPORAL_NAMESPACE: azure.temporal.namespace,
    HYPERSDK_DATA_DIR: join(work, 'state'),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

it('exports a VM named in its resource group in this process when no daemon answers: the disk identical, its snapshot deleted', async () => {
  const out = join(work, 'out');
  mkdirSync(work, { recursive: true });
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const run = await runBin(
    'hyperexport',
    ['-provider', 'azure', '-vm', 'hx-web', '-resource-group', 'rg-hx', '-format', 'qcow2', '-output', out, '-interval', '0.2'],
    azureShell({ HYPERVISOR_URL: nobody }),
    110_000,
  );
  expect(run.code, run.stderr + run.stdout).toBe(0);
  expect(run.stderr).toContain(`no daemon at ${nobody}`);
  expect(run.stderr).toContain('exporting here (standalone)');
  const files = readdirSync(out).sort();
  const disk = files.find((f) => f.endsWith('.qcow2'));
  expect(files).toEqual([disk, 'hx-web.mf', 'hx-web.ovf'].sort());
  expect((await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', join(out, disk!), vm.disks[0]!.expected)).stdout).toContain('Images are identical');
  expect(env.fake.state.snapshots.size).toBe(0);
  expect(run.stdout + run.stderr).not.toContain(env.fake.identityEnv().IDENTITY_HEADER);
}, 120_000);

it('describes the VM by its resource id for a dry run with -standalone, starting no Temporal', async () => {
  const run = await runBin(
    'hyperexport',
    ['-provider', 'azure', '-standalone', '-vm', vm.vmId, '-output', join(work, 'dry'), '-dry-run'],
    // An unreachable Temporal: a dry run must not need it.
    azureShell({ TEMPORAL_ADDRESS: '127.0.0.1:1' }),
  );
  expect(run.code, run.stderr + run.stdout).toBe(0);
  expect(run.stdout).toContain(`Dry run through standalone mode (Azure subscription ${SUBSCRIPTION})`);
  expect(run.stdout).toContain(vm.vmId);
  expect(readdirSync(work)).not.toContain('dry');
}, 60_000);
