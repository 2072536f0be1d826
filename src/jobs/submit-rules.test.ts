// The gateway refuses what the workers would refuse (s3.allowed_buckets), with the
// field, instead of starting an export that fails at once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { prepareSubmit } from './submit.js';

/** Warnings other than "this gateway has no vCenter profile" (these configs have none). */
const fieldWarnings = (warnings: string[]) => warnings.filter((w) => !/^(jobs\[\d+\]\.)?profile: /.test(w));

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

  it('refuses format ova into S3 at the door (an OVA is packed in a local directory), naming the field and what to give', async () => {
    const config = await configWith({ HYPERSDK_S3_ALLOWED_BUCKETS: 'exports' });
    const refused = await prepareSubmit(config, {
      jobs: [
        { vm_path: '/DC0/vm/a', output_path: 's3://exports/a', format: 'ova' },
        { vm_path: 'i-0abc1234', provider: 'aws', source: { region: 'eu-west-1' }, output_path: 's3://exports/b', format: 'ova' },
        { vm_path: '/DC0/vm/c', output_path: 's3://exports/c', format: 'ovf' },
      ],
    });
    expect(refused.errors).toEqual([
      'jobs[0].format: ova is packed in a local output directory, not in s3://exports/a: give format ovf (the descriptor, manifest and disks as objects)',
      'jobs[1].format: ova is packed in a local output directory, not in s3://exports/b: give format ovf (the descriptor, manifest and disks as objects), or qcow2, raw or vhd',
    ]);
    expect(refused.jobs.map((j) => j.input.sink)).toEqual([{ kind: 's3', bucket: 'exports', prefix: 'c/' }]);
  });
});

describe('prepareSubmit: what the original daemon\'s clients send', () => {
  // JobDefinition.to_dict() of its Python SDK with the defaults and a few options set.
  const pythonSdkBody = {
    vm_path: '/DC0/vm/web01',
    name: 'web01',
    output_dir: 'web01-out',
    datacenter: 'DC0',
    format: 'ovf',
    compress: false,
    thin: true,
    insecure: false,
    options: {
      parallel_downloads: 4,
      remove_cdrom: true,
      show_individual_progress: false,
      enable_pipeline: false,
      pipeline_inspect: false,
      pipeline_fix: false,
      pipeline_convert: false,
      pipeline_validate: false,
      pipeline_compress: false,
      compress_level: 6,
      libvirt_integration: false,
      libvirt_uri: 'qemu:///system',
      libvirt_autostart: false,
    },
    created_at: '2026-12-01T10:00:00.123456',
  };

  it('accepts the Python SDK\'s full body; unknown fields and options are warnings', async () => {
    const result = await prepareSubmit(await configWith({}), pythonSdkBody);
    expect(result.errors).toEqual([]);
    expect(result.jobs).toHaveLength(1);
    const warnings = result.warnings.join('\n');
    for (const field of ['compress', 'thin', 'datacenter', 'created_at', 'options.compress_level', 'options.enable_pipeline', 'options.libvirt_uri']) {
      expect(warnings).toContain(field);
    }
    const { input, definition } = result.jobs[0]!;
    expect(input.options.removeCdrom).toBe(true);
    expect(definition).toMatchObject({ format: 'ovf', export_method: '', method: 'auto', output_path: 'web01-out', output_dir: 'web01-out' });
  });

  it('takes "" as auto and the original tool names as auto with a warning naming the field', async () => {
    const config = await configWith({});
    const empty = await prepareSubmit(config, { vm_path: '/DC0/vm/a', export_method: '' });
    expect(empty.jobs[0]!.input.method).toBe('auto');
    expect(empty.jobs[0]!.definition).toMatchObject({ export_method: '', method: 'auto' });
    expect(empty.warnings.join('\n')).not.toContain('export_method');
    for (const tool of ['ctl', 'govc', 'ovftool', 'web'] as const) {
      const viaMethod = await prepareSubmit(config, { vm_path: '/DC0/vm/a', method: tool });
      expect(viaMethod.jobs[0]!.input.method).toBe('auto');
      expect(viaMethod.jobs[0]!.definition).toMatchObject({ export_method: tool, method: 'auto' });
      expect(fieldWarnings(viaMethod.warnings)).toEqual([expect.stringMatching(new RegExp(`^method: "${tool}" names a tool of the original daemon`)) as unknown]);
      const batch = await prepareSubmit(config, { jobs: [{ vm_path: '/DC0/vm/a', export_method: tool }] });
      expect(fieldWarnings(batch.warnings)[0]).toMatch(/^jobs\[0\]\.export_method: /);
    }
    // "" beside a real value: the value counts, as in the original.
    const both = await prepareSubmit(config, { vm_path: '/DC0/vm/a', export_method: '', method: 'datastore' });
    expect(both.jobs[0]!.definition).toMatchObject({ export_method: 'web', method: 'datastore' });
    expect(fieldWarnings(both.warnings)).toEqual([]);
    const ours = await prepareSubmit(config, { vm_path: '/DC0/vm/a', export_method: 'ovf' });
    expect(ours.jobs[0]!.definition).toMatchObject({ export_method: 'govc', method: 'ovf' });
  });

  it('takes vmdk as ovf with a warning, and qcow2, raw and vhd as they are', async () => {
    const config = await configWith({});
    const vmdk = await prepareSubmit(config, { vm_path: '/DC0/vm/a', format: 'vmdk' });
    expect(vmdk.jobs[0]!.input.format).toBe('ovf');
    expect(fieldWarnings(vmdk.warnings)[0]).toMatch(/^format: vmdk is produced as ovf/);
    for (const format of ['qcow2', 'raw', 'vhd'] as const) {
      const taken = await prepareSubmit(config, { jobs: [{ vm_path: '/DC0/vm/ok' }, { vm_path: '/DC0/vm/a', format }] });
      expect(taken.errors).toEqual([]);
      expect(taken.jobs.map((j) => j.input.format)).toEqual([config.defaults.format, format]);
      expect(taken.jobs[1]!.definition.format).toBe(format);
    }
    const empty = await prepareSubmit(config, { vm_path: '/DC0/vm/a', format: '' });
    expect(empty.jobs[0]!.input.format).toBe(config.defaults.format);
  });
});
