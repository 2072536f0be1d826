import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { generateSecretsKey, openCredentials, sealCredentials } from '../config/secrets.js';
import type { SourceProvider } from '../core/source-provider.js';
import { ProviderPool } from './provider-pool.js';

const key = generateSecretsKey();
const creds = {
  server: 'https://vc.example/sdk',
  username: 'admin',
  password: 'pw-for-job-a',
  insecure: false,
};

function pool(connected: string[]) {
  return new ProviderPool({
    profiles: {},
    defaultProfile: 'default',
    // The worker's own rule: inline credentials go only to listed vCenters.
    vsphereRules: { allowedHosts: ['vc.example'], allowInsecureHttp: false },
    connect: (profile) => {
      connected.push(profile.password);
      return Promise.resolve({ logout: () => Promise.resolve() } as unknown as SourceProvider);
    },
    openSealed: (sealed, jobId) => {
      const c = openCredentials(key, sealed, jobId);
      return { url: c.server, username: c.username, password: c.password, insecure: c.insecure };
    },
  });
}

function inJob<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: jobId, runId: 'run' } });
  return env.run(fn);
}

describe('ProviderPool with sealed inline credentials', () => {
  const source = { provider: 'vsphere' as const, sealedCredentials: sealCredentials(key, creds, 'job-a') };

  it('opens them in the job they were sealed for', async () => {
    const connected: string[] = [];
    const providers = pool(connected);
    await inJob('job-a', () => providers.get(source));
    expect(connected).toEqual(['pw-for-job-a']);
  });

  it('refuses them, non-retryably and with their own type, in another job', async () => {
    const connected: string[] = [];
    const providers = pool(connected);
    const err = await inJob('job-b', () => providers.get(source)).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'CredentialsNotForJob', nonRetryable: true });
    expect((err as Error).message).toMatch(/belong to job "job-a", not to this job "job-b"/);
    expect(connected).toEqual([]);
  });

  it("does not hand job A's open session to job B carrying a copy of the blob", async () => {
    const connected: string[] = [];
    const providers = pool(connected);
    await inJob('job-a', () => providers.get(source));
    await expect(inJob('job-b', () => providers.get(source))).rejects.toMatchObject({
      type: 'CredentialsNotForJob',
    });
    expect(connected).toEqual(['pw-for-job-a']);
  });

  it('refuses them outside any job', () => {
    expect(() => pool([]).profile(source)).toThrow(/only inside the job they were sealed for/);
  });
});
