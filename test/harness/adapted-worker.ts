// An export worker in the test process whose vSphere provider the test adapts
// (device URLs through a relay, a datastore GET sent to a refusing server, calls
// recorded), with the Temporal client the test starts its exports with.
import { connectVsphere, type VsphereProvider } from '../../src/providers/vsphere/index.js';
import type { HyperConfig } from '../../src/config/types.js';
import { createExportWorker } from '../../src/worker/create-worker.js';
import { temporalClient } from './export-env.js';

export interface AdaptedWorker {
  temporal: Awaited<ReturnType<typeof temporalClient>>;
  stop(): Promise<void>;
}

export async function startAdaptedWorker(config: HyperConfig, adapt: (provider: VsphereProvider) => void): Promise<AdaptedWorker> {
  const worker = await createExportWorker({
    config,
    connectProvider: async (profile) => {
      const provider = await connectVsphere(profile);
      adapt(provider);
      return provider;
    },
  });
  const running = worker.run();
  const temporal = await temporalClient(config);
  return {
    temporal,
    stop: async () => {
      worker.shutdown();
      await running;
      await temporal.close();
    },
  };
}
