// Starts the real services once per integration run, on 127.0.0.1 with free ports
// and a temporary directory, and stops them when the run ends (pass, fail or
// interrupt). Servers are launched with a parent-death signal, so even a killed
// vitest leaves no orphan behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startMinio } from '../../src/devservices/minio.js';
import { startTemporalDevServer } from '../../src/devservices/temporal.js';
import { toolPath } from '../../src/devservices/tools.js';
import { startToxiproxy } from '../../src/devservices/toxiproxy.js';
import { startVcsim } from '../../src/devservices/vcsim.js';
import { govc } from './govc.js';
import { createBucket } from './minio-client.js';
import type { ServiceInfo } from './services.js';

/** VMs the harness powers off, so tests have both power states (the rest stay on). */
export const POWERED_OFF_VMS = ['DC0_H0_VM1', 'DC0_C0_RP0_VM1'];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = mkdtempSync(join(tmpdir(), 'hypersdk-it-'));
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.reverse().map((s) => s.stop()));
    if (!process.env.HYPERSDK_KEEP_WORKDIR) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const [temporal, vcsim, minio, toxiproxy] = await Promise.all([
      startTemporalDevServer({ logDir: workDir }).then((s) => (started.push(s), s)),
      startVcsim({ workDir }).then((s) => (started.push(s), s)),
      startMinio({ workDir }).then((s) => (started.push(s), s)),
      startToxiproxy({ workDir }).then((s) => (started.push(s), s)),
    ]);
    const govcPath = toolPath('govc');
    for (const vm of POWERED_OFF_VMS) await govc({ govc: govcPath, vcsim }, ['vm.power', '-off', '-force', vm]);

    const bucket = 'hypersdk-test';
    await createBucket(minio, bucket);

    const services: ServiceInfo = {
      workDir,
      temporal: { address: temporal.address, namespace: temporal.namespace },
      vcsim: {
        sdkUrl: vcsim.sdkUrl,
        host: vcsim.host,
        username: vcsim.username,
        password: vcsim.password,
        dataDir: vcsim.dataDir,
      },
      minio: {
        endpoint: minio.endpoint,
        accessKeyId: minio.accessKeyId,
        secretAccessKey: minio.secretAccessKey,
        region: minio.region,
        bucket,
      },
      toxiproxy: { apiUrl: toxiproxy.apiUrl },
      govc: govcPath,
    };
    project.provide('services', services);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
