// aws.region: the region of AWS jobs and VM lists that name none, from the file or
// AWS_REGION / AWS_DEFAULT_REGION; the original daemon's aws section loads too.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

function dataDir(): string {
  return mkdtempSync(join(tmpdir(), 'hypersdk-aws-config-'));
}

function configFile(text: string): { dir: string; file: string } {
  const dir = dataDir();
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

const SECRET = 'aws-s3cr3t-never-shown';

describe('aws.region', () => {
  it('is unset by default: no region is guessed', async () => {
    const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dataDir() }, persistSecretsKey: false });
    expect(config.aws).toEqual({});
  });

  it('comes from the file, AWS_REGION wins over it, and AWS_DEFAULT_REGION stands in for AWS_REGION', async () => {
    const { dir, file } = configFile('aws:\n  region: eu-west-1\n');
    const fromFile = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir }, persistSecretsKey: false });
    expect(fromFile.config.aws?.region).toBe('eu-west-1');
    expect(fromFile.warnings).toEqual([]);
    const both = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir, AWS_REGION: 'ap-southeast-2', AWS_DEFAULT_REGION: 'us-west-2' }, persistSecretsKey: false });
    expect(both.config.aws?.region).toBe('ap-southeast-2');
    const fallback = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir, AWS_DEFAULT_REGION: 'us-gov-west-1' }, persistSecretsKey: false });
    expect(fallback.config.aws?.region).toBe('us-gov-west-1');
    // AWS_REGION still sets the S3 region as before.
    expect(both.config.s3.region).toBe('ap-southeast-2');
  });

  it('written wrongly in the file is an error naming the key and its line', async () => {
    const { dir, file } = configFile('log_level: info\naws:\n  region: Ireland\n');
    const err = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir }, persistSecretsKey: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const issue = (err as ConfigError).issues[0]!;
    expect(issue.key).toContain('aws.region');
    expect(issue.line).toBe(3);
    expect(issue.message).toBe('"Ireland" is not an AWS region name such as us-east-1 or eu-west-1');
  });

  it('from AWS_REGION set for an S3-compatible endpoint ("minio") is a warning: the daemon still starts', async () => {
    const { config, warnings } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dataDir(), AWS_REGION: 'minio' }, persistSecretsKey: false });
    expect(config.s3.region).toBe('minio');
    expect(warnings).toEqual([
      'AWS_REGION (environment, aws.region): "minio" is not an AWS region name such as us-east-1 or eu-west-1; AWS jobs and VM lists must name their region until it is one',
    ]);
  });
});

describe("the original daemon's aws section", () => {
  it('gives its region to aws.region and names each setting hypersdk does without, never a value', async () => {
    const { dir, file } = configFile(
      ['aws:', '  region: us-west-2', '  access_key: AKIAEXAMPLE', `  secret_key: ${SECRET}`, '  s3_bucket: exports', '  export_format: vmdk', '  enabled: true', ''].join('\n'),
    );
    const { config, warnings } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir }, persistSecretsKey: false });
    expect(config.aws?.region).toBe('us-west-2');
    const text = warnings.join('\n');
    for (const key of ['access_key', 'secret_key', 's3_bucket', 'export_format', 'enabled']) {
      expect(text).toContain(`the original daemon's aws.${key} setting has no effect in hypersdk`);
    }
    expect(text).toContain('standard AWS credential chain');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('AKIAEXAMPLE');
    expect(warnings).toHaveLength(5);
  });
});
