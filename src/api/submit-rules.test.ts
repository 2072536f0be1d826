// The gateway refuses what the workers would refuse (s3.allowed_buckets), with the
// field, instead of starting an export that fails at once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { prepareSubmit } from './submit.js';

async function configWith(yaml: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-submit-'));
  const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir, ...yaml }, persistSecretsKey: false });
  return config;
}

describe('prepareSubmit: S3 outputs only in s3.allowed_buckets', () => {
  it('refuses every bucket when none is configured, naming the field and the key', async () => {
    const result = await prepareSubmit(await configWith({}), {
      vm_path: '/DC0/vm/a',
      output_path: 's3://exports/vm-a/',
    });
    expect(result.jobs).toEqual([]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(
      /^output_path: s3:\/\/exports\/vm-a\/ is not in this worker's s3\.allowed_buckets/,
    );
  });

  it('accepts a listed bucket, and a listed bucket/prefix only under that prefix', async () => {
    const config = await configWith({ HYPERSDK_S3_ALLOWED_BUCKETS: 'exports, shared/team-a' });
    const ok = await prepareSubmit(config, {
      jobs: [
        { vm_path: '/DC0/vm/a', output_path: 's3://exports/x' },
        { vm_path: '/DC0/vm/b', output_path: 's3://shared/team-a/b' },
      ],
    });
    expect(ok.errors).toEqual([]);
    expect(ok.jobs.map((j) => j.input.sink)).toEqual([
      { kind: 's3', bucket: 'exports', prefix: 'x/' },
      { kind: 's3', bucket: 'shared', prefix: 'team-a/b/' },
    ]);
    const refused = await prepareSubmit(config, {
      vm_path: '/DC0/vm/c',
      output_path: 's3://shared/team-b/c',
    });
    expect(refused.errors[0]).toMatch(/s3\.allowed_buckets/);
  });
});
