// Jobs with provider aws, as prepareSubmit turns them into workflow input and the
// definition clients read back; every refusal names its field and what to use instead.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { definitionFromInput } from './temporal-jobs.js';
import { prepareSubmit } from './submit.js';

async function configWith(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-aws-job-'));
  const { config } = await loadConfig({ env: { HYPERSDK_DATA_DIR: dir, ...env }, persistSecretsKey: false });
  return config;
}

/** The single job's outcome: its input and definition, or its one error. */
async function one(body: Record<string, unknown>, env: Record<string, string> = { AWS_REGION: 'eu-west-1' }) {
  const result = await prepareSubmit(await configWith(env), body);
  return { job: result.jobs[0], errors: result.errors, warnings: result.warnings, rejected: result.rejected };
}

async function errorOf(body: Record<string, unknown>, env?: Record<string, string>): Promise<string> {
  const { errors, job, rejected } = await one(body, env);
  expect(job).toBeUndefined();
  expect(rejected).toBe(1);
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

describe('an AWS job', () => {
  it('becomes workflow input with source {provider aws, region, profile}, auto method, a qcow2 default and keepSnapshots', async () => {
    const { job, errors, warnings } = await one({
      provider: 'aws',
      vm_path: 'i-0123456789abcdef0',
      source: { region: 'us-east-2', profile: 'migration' },
      output_path: 'web01',
      options: { keep_snapshots: true, power_off: true },
    });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    const { input, definition } = job!;
    expect(input).toMatchObject({
      vmPath: 'i-0123456789abcdef0',
      jobName: 'i-0123456789abcdef0',
      format: 'qcow2',
      method: 'auto',
      source: { provider: 'aws', region: 'us-east-2', profile: 'migration' },
      options: { keepSnapshots: true, powerOff: true, snapshot: false },
    });
    expect(Object.keys(input.source).sort()).toEqual(['profile', 'provider', 'region']);
    expect(definition).toEqual({
      id: input.jobId,
      name: 'i-0123456789abcdef0',
      vm_path: 'i-0123456789abcdef0',
      output_path: input.outputPath,
      output_dir: input.outputPath,
      format: 'qcow2',
      export_method: '',
      method: 'auto',
      provider: 'aws',
      source: { region: 'us-east-2', profile: 'migration' },
      options: { parallel_downloads: 4, remove_cdrom: false, snapshot: false, power_off: true, shutdown_timeout_seconds: 300, keep_snapshots: true },
      created_at: input.submittedAt,
    });
    // The view rebuilt from the input alone (a workflow started without the gateway's memo) is the same.
    expect(definitionFromInput(input)).toEqual(definition);
  });

  it("takes the region from the daemon's aws.region, keep_snapshots false and no profile by default", async () => {
    const { job } = await one({ provider: 'aws', vm_path: 'i-0abc1234' }, { AWS_DEFAULT_REGION: 'ap-south-1' });
    expect(job!.input.source).toEqual({ provider: 'aws', region: 'ap-south-1' });
    expect(job!.input.options.keepSnapshots).toBe(false);
    expect(job!.definition.source).toEqual({ region: 'ap-south-1' });
    expect(job!.definition.options.keep_snapshots).toBe(false);
    expect(job!.definition).not.toHaveProperty('profile');
  });

  it('reads a Name tag, a volume and a snapshot as they are, and the list path /<region>/<id> as region and id', async () => {
    for (const ref of ['web server 01', 'vol-0123456789abcdef0', 'snap-0fedcba9876543210', 'i-am-a-name-tag']) {
      const { job } = await one({ provider: 'aws', vm_path: ref });
      expect(job!.input.vmPath).toBe(ref);
      expect(job!.input.source).toEqual({ provider: 'aws', region: 'eu-west-1' });
    }
    const listed = await one({ provider: 'aws', vm_path: '/ca-central-1/i-0123456789abcdef0' }, {});
    expect(listed.job!.input).toMatchObject({ vmPath: 'i-0123456789abcdef0', jobName: 'i-0123456789abcdef0', source: { region: 'ca-central-1' } });
    expect(await errorOf({ provider: 'aws', vm_path: '/ca-central-1/i-0abc1234', source: { region: 'us-east-1' } })).toBe(
      'vm_path: names region ca-central-1 but source.region is us-east-1: give one region',
    );
    expect(await errorOf({ provider: 'aws', vm_path: 'x'.repeat(257) })).toMatch(/^vm_path: must be an instance id \(i-\.\.\.\), an instance's Name tag \(at most 256 characters\)/);
  });

  it('without a region anywhere is refused naming source.region and where to set it', async () => {
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234' }, {})).toBe(
      "source.region: is required for provider aws: give source.region (e.g. us-east-1), or set aws.region (AWS_REGION) in the daemon's configuration",
    );
  });

  it('with a malformed region is refused naming source.region; a malformed default says it is the default', async () => {
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'Ireland' } })).toBe(
      'source.region: must be an AWS region name such as us-east-1 or eu-west-1',
    );
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234' }, { AWS_REGION: 'minio' })).toBe(
      'source.region: not given, and the daemon\'s default aws.region "minio" is not an AWS region name such as us-east-1 or eu-west-1; give source.region',
    );
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', source: { profile: '../etc/passwd' } })).toMatch(/^source\.profile: must be a profile name of the shared AWS config/);
  });

  it('refuses each vSphere field, naming it and what to use instead, and never echoes a password', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ profile: 'default' }, /^profile: names a vCenter profile, which does not apply to provider aws: AWS credentials come from the worker's AWS credential chain .*give source\.profile$/],
      [{ vcenter: { server: 'vc', username: 'u', password: 'hunter2' } }, /^vcenter: vCenter credentials do not apply to provider aws: .*source\.profile names a profile of its shared AWS config$/],
      [{ vcenter_url: 'https://vc/sdk' }, /^vcenter_url: a vCenter URL does not apply to provider aws: give the AWS region as source\.region$/],
      [{ username: 'admin' }, /^username: vCenter credentials do not apply to provider aws/],
      [{ password: 'hunter2' }, /^password: vCenter credentials do not apply to provider aws/],
      [{ insecure: true }, /^insecure: applies to a vCenter's TLS certificate, not to provider aws/],
    ];
    for (const [fields, expected] of cases) {
      const error = await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', ...fields });
      expect(error).toMatch(expected);
      expect(error).not.toContain('hunter2');
    }
    // The empty and false values clients send with every job ask for nothing.
    const sdkDefaults = await one({ provider: 'aws', vm_path: 'i-0abc1234', insecure: false, username: '', password: '' });
    expect(sdkDefaults.errors).toEqual([]);
  });

  it('refuses a vSphere export method by the field the client used, and takes "" and auto', async () => {
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', export_method: 'datastore' })).toBe(
      'export_method: "datastore" is a vSphere export method; an AWS export always reads EBS snapshot blocks (auto): leave export_method out or give auto',
    );
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', method: 'govc' })).toMatch(/^method: "govc" is a vSphere export method/);
    for (const method of ['', 'auto']) {
      const { job, warnings } = await one({ provider: 'aws', vm_path: 'i-0abc1234', export_method: method });
      expect(job!.input.method).toBe('auto');
      expect(job!.definition).toMatchObject({ export_method: '', method: 'auto' });
      expect(warnings).toEqual([]);
    }
    // defaults.method (a vSphere setting) does not reach AWS jobs.
    const config = await configWith({ AWS_REGION: 'eu-west-1' });
    config.defaults.method = 'datastore';
    expect((await prepareSubmit(config, { provider: 'aws', vm_path: 'i-0abc1234' })).jobs[0]!.input.method).toBe('auto');
  });

  it('takes raw, qcow2 and vhd as images, ovf and ova as the instance described with qcow2 disks, refuses vmdk naming format, and takes defaults.format when it is an image format', async () => {
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', format: 'vmdk' })).toBe(
      "format: vmdk is the source's own VMDK disk files, and EBS volumes have none: give qcow2, raw or vhd (images), or ovf or ova (the VM described with qcow2 disks)",
    );
    for (const format of ['raw', 'qcow2', 'vhd'] as const) {
      const { input } = (await one({ provider: 'aws', vm_path: 'i-0abc1234', format })).job!;
      expect(input.format).toBe(format);
      expect(input.diskImage).toBeUndefined();
    }
    for (const format of ['ovf', 'ova'] as const) {
      expect((await one({ provider: 'aws', vm_path: 'i-0abc1234', format })).job!.input).toMatchObject({ format, diskImage: 'qcow2' });
    }
    const config = await configWith({ AWS_REGION: 'eu-west-1' });
    config.defaults.format = 'raw';
    expect((await prepareSubmit(config, { provider: 'aws', vm_path: 'i-0abc1234' })).jobs[0]!.input.format).toBe('raw');
    config.defaults.format = 'vhd';
    expect((await prepareSubmit(config, { provider: 'aws', vm_path: 'i-0abc1234' })).jobs[0]!.input.format).toBe('vhd');
  });

  it('takes an incremental export to an OVA or an OVF (the earlier images are read where that export left them)', async () => {
    expect((await one({ provider: 'aws', vm_path: 'i-0abc1234', format: 'ova', options: { since_snapshot: 'snap-0123abcd' } })).job!.input.options.sinceSnapshot).toBe('snap-0123abcd');
    expect((await one({ provider: 'aws', vm_path: 'i-0abc1234', format: 'ovf', options: { since_snapshot: 'snap-0123abcd' } })).job!.input.options.sinceSnapshot).toBe('snap-0123abcd');
  });

  it('refuses credentials under source (never dropped silently) and warns about other unknown keys there', async () => {
    for (const key of ['access_key_id', 'secret_access_key', 'session_token', 'accessKeyId']) {
      const error = await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1', [key]: 'AKIA-or-secret' } });
      expect(error).toMatch(new RegExp(`^source\\.${key}: AWS credentials are never taken from a job`));
      expect(error).not.toContain('AKIA-or-secret');
    }
    const { job, warnings } = await one({ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1', zone: 'us-east-1a' } });
    expect(job!.input.source).toEqual({ provider: 'aws', region: 'us-east-1' });
    expect(warnings).toEqual(['source.zone: unknown field, ignored (source takes region and profile)']);
  });

  it('takes options.since_snapshot (an incremental export) into options.sinceSnapshot and the definition, as one id or vol=snap pairs', async () => {
    for (const since of ['snap-0fedcba9876543210', 'vol-0aaa1111=snap-0bbb2222', 'vol-0aaa1111=snap-0bbb2222,vol-0ccc3333=snap-0ddd4444']) {
      const { job, errors, warnings } = await one({ provider: 'aws', vm_path: 'i-0abc1234', format: 'raw', output_path: 'web01', options: { since_snapshot: since } });
      expect(errors).toEqual([]);
      expect(warnings).toEqual([]);
      expect(job!.input.options).toMatchObject({ sinceSnapshot: since, keepSnapshots: false });
      // The workflow replaces the earlier export's files by itself: the job does not ask for overwrite.
      expect(job!.input).not.toHaveProperty('overwrite');
      expect(job!.definition.options).toMatchObject({ since_snapshot: since, keep_snapshots: false });
      expect(definitionFromInput(job!.input)).toEqual(job!.definition);
    }
    // Chained: keep this export's snapshots for the next one while reading only what changed since the last.
    const chained = await one({ provider: 'aws', vm_path: 'i-0abc1234', output_path: 'web01', options: { keep_snapshots: true, since_snapshot: 'snap-0123abcd' } });
    expect(chained.job!.input.options).toMatchObject({ keepSnapshots: true, sinceSnapshot: 'snap-0123abcd' });
    // Without it, neither the input nor the definition has the field.
    const full = await one({ provider: 'aws', vm_path: 'i-0abc1234' });
    expect(full.job!.input.options).not.toHaveProperty('sinceSnapshot');
    expect(full.job!.definition.options).not.toHaveProperty('since_snapshot');
  });

  it('refuses a since_snapshot that is neither a snapshot id nor vol=snap pairs, naming options.since_snapshot', async () => {
    for (const since of ['', 'snap-XYZ', 'i-0abc1234', 'vol-0aaa1111', 'vol-0aaa1111=snap-0bbb2222,', 'vol-0aaa1111=snap-0bbb2222, vol-0ccc3333=snap-0ddd4444', 'snap-0aaa,snap-0bbb']) {
      expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', output_path: 'web01', options: { since_snapshot: since } })).toBe(
        "options.since_snapshot: must be one snapshot id (snap-…, for a one-disk source) or an earlier export's kept_snapshot: vol-…=snap-… pairs, comma-separated, no spaces",
      );
    }
    expect(await errorOf({ provider: 'aws', vm_path: 'i-0abc1234', options: { since_snapshot: true } })).toMatch(/^options\.since_snapshot: /);
  });

  it('takes since_snapshot with an s3:// output_path: the earlier images are read back from the bucket', async () => {
    const env = { AWS_REGION: 'eu-west-1', HYPERSDK_S3_ALLOWED_BUCKETS: 'exports' };
    const job = (await one({ provider: 'aws', vm_path: 'i-0abc1234', output_path: 's3://exports/web01', options: { since_snapshot: 'snap-0123abcd' } }, env)).job!;
    expect(job.input.sink).toEqual({ kind: 's3', bucket: 'exports', prefix: 'web01/' });
    expect(job.input.options.sinceSnapshot).toBe('snap-0123abcd');
  });

  it("is not refused because the earlier export's files are in output_path: an incremental export updates them", async () => {
    const config = await configWith({ AWS_REGION: 'eu-west-1' });
    const first = await prepareSubmit(config, { provider: 'aws', vm_path: 'i-0abc1234', output_path: 'web01', format: 'raw' });
    const sink = first.jobs[0]!.input.sink;
    if (sink.kind !== 'local') throw new Error('expected a local sink');
    mkdirSync(sink.directory, { recursive: true });
    for (const name of ['i-0abc1234.ovf', 'i-0abc1234.mf', 'i-0abc1234-disk1.raw']) writeFileSync(join(sink.directory, name), 'earlier');
    const again = await prepareSubmit(config, { provider: 'aws', vm_path: 'i-0abc1234', output_path: 'web01', format: 'raw' });
    expect(again.errors).toEqual([expect.stringMatching(/^output_path: OutputExists: .* already holds i-0abc1234-disk1\.raw, i-0abc1234\.mf, i-0abc1234\.ovf/) as unknown]);
    const incremental = await prepareSubmit(config, { provider: 'aws', vm_path: 'i-0abc1234', output_path: 'web01', format: 'raw', options: { since_snapshot: 'snap-0123abcd' } });
    expect(incremental.errors).toEqual([]);
    expect(incremental.jobs[0]!.input).toMatchObject({ sink: { kind: 'local', directory: sink.directory }, options: { sinceSnapshot: 'snap-0123abcd' } });
  });

  it('names the job in a batch, and an unknown provider lists the three', async () => {
    const config = await configWith({});
    const batch = await prepareSubmit(config, { jobs: [{ vm_path: '/DC0/vm/a' }, { provider: 'aws', vm_path: 'i-0abc1234' }] });
    expect(batch.jobs).toHaveLength(1);
    expect(batch.errors).toEqual([expect.stringMatching(/^jobs\[1\]\.source\.region: is required for provider aws/) as unknown]);
    expect(await errorOf({ provider: 'gcp', vm_path: 'x' })).toBe('provider: must be vsphere, aws or azure');
  });
});

describe('a vSphere job', () => {
  it('keeps its exact shape: no source, no keep_snapshots, no keepSnapshots in the input', async () => {
    for (const body of [{ vm_path: '/DC0/vm/a' }, { provider: 'vsphere', vm_path: '/DC0/vm/a' }]) {
      const { job } = await one(body);
      expect(job!.input.source).toEqual({ provider: 'vsphere', profile: 'default' });
      expect(Object.keys(job!.input.options).sort()).toEqual(['parallelDownloads', 'powerOff', 'removeCdrom', 'shutdownTimeoutSeconds', 'snapshot']);
      expect(Object.keys(job!.definition).sort()).toEqual(
        ['created_at', 'export_method', 'format', 'id', 'method', 'name', 'options', 'output_dir', 'output_path', 'profile', 'provider', 'vm_path'].sort(),
      );
      expect(Object.keys(job!.definition.options).sort()).toEqual(['parallel_downloads', 'power_off', 'remove_cdrom', 'shutdown_timeout_seconds', 'snapshot']);
      expect(definitionFromInput(job!.input)).toEqual(job!.definition);
    }
  });

  it('refuses the AWS-only source, options.keep_snapshots and options.since_snapshot, naming them', async () => {
    expect(await errorOf({ vm_path: '/DC0/vm/a', source: { region: 'us-east-1' } })).toBe(
      'source: is for providers aws (region, profile) and azure (subscription_id, resource_group); give provider: aws or azure, or name a vCenter with profile or vcenter',
    );
    expect(await errorOf({ vm_path: '/DC0/vm/a', options: { keep_snapshots: true } })).toBe(
      'options.keep_snapshots: is for providers aws and azure (the snapshots a cloud export takes); a vSphere export always removes the snapshot it took',
    );
    for (const provider of [{}, { provider: 'vsphere' }]) {
      expect(await errorOf({ ...provider, vm_path: '/DC0/vm/a', output_path: 'a', options: { since_snapshot: 'snap-0123abcd' } })).toBe(
        'options.since_snapshot: is for provider aws (an incremental export reads the EBS blocks changed since an earlier snapshot); a vSphere export always reads whole disks',
      );
    }
  });
});
