// The gateway with provider aws, in-process: a submitted AWS job starts the export
// workflow with an AWS source and no secret, the job reads back with its region;
// the VM list reaches the AWS provider of a region; refusals name their field.
import { afterEach, describe, expect, it } from 'vitest';
import type { ExportWorkflowInput } from '../core/export-contract.js';
import type { AwsTarget } from './deps.js';
import { awsInstance, exportResultOf, fakeAwsProvider, postJson, unitGateway, type UnitGateway } from './test-support.js';

interface SubmitAnswer {
  job_ids: string[];
  accepted: number;
  rejected: number;
  errors?: string[];
  warnings?: string[];
}

const gateways: UnitGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(options: Parameters<typeof unitGateway>[0] = {}): Promise<UnitGateway> {
  const gw = await unitGateway(options);
  gateways.push(gw);
  return gw;
}

async function submit(gw: UnitGateway, body: unknown): Promise<{ status: number; answer: SubmitAnswer }> {
  const res = await gw.request('/jobs/submit', postJson(body));
  return { status: res.status, answer: (await res.json()) as SubmitAnswer };
}

describe('POST /jobs/submit with provider aws', () => {
  it('starts the export workflow with source {provider aws, region, profile}, options.keepSnapshots and the provider search attribute', async () => {
    const gw = await gateway();
    const { status, answer } = await submit(gw, {
      provider: 'aws',
      vm_path: 'i-0123456789abcdef0',
      source: { region: 'eu-central-1', profile: 'migration' },
      format: 'raw',
      options: { keep_snapshots: true, snapshot: true },
    });
    expect(status).toBe(200);
    expect(answer).toMatchObject({ accepted: 1, rejected: 0 });
    expect(gw.started).toHaveLength(1);
    const { workflowType, options } = gw.started[0]!;
    expect(workflowType).toBe('exportVmWorkflow');
    expect(options.workflowId).toBe(answer.job_ids[0]);
    const input = (options.args as ExportWorkflowInput[])[0]!;
    expect(input).toMatchObject({
      vmPath: 'i-0123456789abcdef0',
      format: 'raw',
      method: 'auto',
      source: { provider: 'aws', region: 'eu-central-1', profile: 'migration' },
      options: { keepSnapshots: true, snapshot: true, powerOff: false },
    });
    expect(input.source).not.toHaveProperty('sealedCredentials');
    const attributes = (options.typedSearchAttributes as { key: { name: string }; value: unknown }[]).map((a) => [a.key.name, a.value]);
    expect(attributes).toContainEqual(['HyperProvider', 'aws']);
  });

  it('answers GET /jobs/{id} with provider aws, source {region, profile?} and options.keep_snapshots', async () => {
    const gw = await gateway({ env: { AWS_REGION: 'us-west-2' } });
    const { answer } = await submit(gw, { provider: 'aws', vm_path: 'db-primary', name: 'db' });
    const job = (await (await gw.request(`/jobs/${answer.job_ids[0]}`)).json()) as { status: string; definition: Record<string, unknown> };
    expect(job.status).toBe('pending');
    expect(job.definition).toMatchObject({
      id: answer.job_ids[0],
      name: 'db',
      vm_path: 'db-primary',
      format: 'qcow2',
      export_method: '',
      method: 'auto',
      provider: 'aws',
      source: { region: 'us-west-2' },
      options: { keep_snapshots: false, snapshot: false, power_off: false },
    });
    expect(job.definition).not.toHaveProperty('profile');
  });

  it('starts an incremental export with options.sinceSnapshot, shows options.since_snapshot, and the result names kept_snapshot and since_snapshot', async () => {
    // As the workflow answers: the snapshots it kept (keep_snapshots) and the one it read changes since.
    const gw = await gateway({
      env: { AWS_REGION: 'eu-west-1' },
      autoComplete: (input) => ({
        ...exportResultOf(input),
        ...(input.options.keepSnapshots ? { keptSnapshot: 'vol-0aaa1111=snap-0ccc3333' } : {}),
        ...(input.options.sinceSnapshot ? { sinceSnapshot: input.options.sinceSnapshot } : {}),
      }),
    });
    const jobOf = async (id: string) =>
      (await (await gw.request(`/jobs/${id}`)).json()) as { status: string; definition: { options: Record<string, unknown> }; result?: Record<string, unknown> };

    // The first export keeps its snapshots; its result names them.
    const first = await submit(gw, { provider: 'aws', vm_path: 'i-0123456789abcdef0', format: 'raw', output_path: 'web01', options: { keep_snapshots: true } });
    expect(first.answer.errors).toBeUndefined();
    const firstJob = await jobOf(first.answer.job_ids[0]!);
    expect(firstJob.status).toBe('completed');
    expect(firstJob.result).toMatchObject({ kept_snapshot: 'vol-0aaa1111=snap-0ccc3333' });
    expect(firstJob.result).not.toHaveProperty('since_snapshot');
    expect(firstJob.definition.options).not.toHaveProperty('since_snapshot');

    // The next reads only what changed since, into the same output.
    const since = firstJob.result!.kept_snapshot as string;
    const next = await submit(gw, { provider: 'aws', vm_path: 'i-0123456789abcdef0', format: 'raw', output_path: 'web01', options: { keep_snapshots: true, since_snapshot: since } });
    expect(next.status).toBe(200);
    expect(next.answer).toMatchObject({ accepted: 1, rejected: 0 });
    const input = (gw.started.at(-1)!.options.args as ExportWorkflowInput[])[0]!;
    expect(input.options).toMatchObject({ sinceSnapshot: 'vol-0aaa1111=snap-0ccc3333', keepSnapshots: true });
    const nextJob = await jobOf(next.answer.job_ids[0]!);
    expect(nextJob.definition.options).toMatchObject({ since_snapshot: since, keep_snapshots: true });
    expect(nextJob.result).toMatchObject({ kept_snapshot: 'vol-0aaa1111=snap-0ccc3333', since_snapshot: since });
  });

  it('keeps the exact vSphere definition shape', async () => {
    const gw = await gateway();
    const { answer } = await submit(gw, { vm_path: '/DC0/vm/web01', output_path: 'web01' });
    const job = (await (await gw.request(`/jobs/${answer.job_ids[0]}`)).json()) as { definition: Record<string, unknown> };
    expect(Object.keys(job.definition).sort()).toEqual(
      ['created_at', 'export_method', 'format', 'id', 'method', 'name', 'options', 'output_dir', 'output_path', 'profile', 'provider', 'vm_path'].sort(),
    );
    expect(job.definition.provider).toBe('vsphere');
    expect(Object.keys(job.definition.options as object).sort()).toEqual(['parallel_downloads', 'power_off', 'remove_cdrom', 'shutdown_timeout_seconds', 'snapshot']);
  });

  // Submit answers 200 with accepted 0 and the reasons for a job it refuses (the
  // original daemon's contract, which its clients and hyperctl read); nothing starts.
  it.each([
    [{ provider: 'aws', vm_path: 'i-0abc1234' }, /^source\.region: is required for provider aws/],
    [{ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'mars-1' } }, /^source\.region: must be an AWS region name/],
    [{ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1' }, format: 'vmdk' }, /^format: vmdk is the source's own VMDK disk files, and EBS volumes have none/],
    [{ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1' }, export_method: 'ovf' }, /^export_method: "ovf" is a vSphere export method/],
    [{ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1' }, profile: 'default' }, /^profile: .*give source\.profile$/],
    [{ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1' }, password: 'hunter2' }, /^password: vCenter credentials do not apply to provider aws/],
    [{ provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1', secret_access_key: 'hunter2' } }, /^source\.secret_access_key: AWS credentials are never taken from a job/],
    [{ provider: 'gcp', vm_path: 'x' }, /^provider: must be vsphere, aws or azure$/],
    [{ vm_path: '/DC0/vm/a', options: { keep_snapshots: true } }, /^options\.keep_snapshots: is for providers aws and azure/],
    [{ vm_path: '/DC0/vm/a', options: { since_snapshot: 'snap-0123abcd' } }, /^options\.since_snapshot: is for provider aws/],
    [
      { provider: 'aws', vm_path: 'i-0abc1234', source: { region: 'us-east-1' }, options: { since_snapshot: 'vol-0aaa=snap-0bbb; rm -rf /' } },
      /^options\.since_snapshot: must be one snapshot id \(snap-…, for a one-disk source\) or an earlier export's kept_snapshot: vol-…=snap-… pairs, comma-separated/,
    ],
  ])('refuses %j naming the field, starting nothing', async (body, expected) => {
    const gw = await gateway();
    const { status, answer } = await submit(gw, body);
    expect(status).toBe(200);
    expect(answer).toMatchObject({ accepted: 0, rejected: 1, job_ids: [] });
    expect(answer.errors).toEqual([expect.stringMatching(expected) as unknown]);
    expect(JSON.stringify(answer)).not.toContain('hunter2');
    expect(gw.started).toEqual([]);
  });
});

describe('/vms with provider aws', () => {
  function awsGateway(env: Record<string, string> = {}, fail?: Error) {
    const opened: AwsTarget[] = [];
    const instances = [awsInstance('i-0aaa1111', 'web-1'), awsInstance('i-0bbb2222', 'db-1')];
    const providers = [] as ReturnType<typeof fakeAwsProvider>[];
    const gw = gateway({
      env,
      awsProviderFactory: (target) => {
        opened.push(target);
        if (fail) return Promise.reject(fail);
        const provider = fakeAwsProvider(instances.map((i) => ({ ...i, path: `/${target.region}/${i.id}` })));
        providers.push(provider);
        return Promise.resolve(provider);
      },
    });
    return { gw, opened, providers };
  }

  it('GET /vms/list?provider=aws&region=R lists the instances as VMs, opening one provider per region and profile', async () => {
    const { gw: ready, opened } = awsGateway();
    const gw = await ready;
    const res = await gw.request('/vms/list?provider=aws&region=eu-west-1');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { vms: Record<string, unknown>[]; total: number };
    expect(body.total).toBe(2);
    expect(body.vms[0]).toEqual({
      id: 'i-0aaa1111', name: 'web-1', path: '/eu-west-1/i-0aaa1111', power_state: 'poweredOn', guest_os: 'Linux/UNIX',
      guest_id: 'linux', memory_mb: 4096, num_cpu: 2, storage_bytes: 8 * 1024 ** 3,
    });
    await gw.request('/vms/list?provider=aws&region=eu-west-1');
    await gw.request('/vms/list', postJson({ provider: 'aws', region: 'eu-west-1', profile: 'audit' }));
    expect(opened).toEqual([{ region: 'eu-west-1' }, { region: 'eu-west-1', profile: 'audit' }]);
  });

  it("takes the region from the daemon's aws.region when none is given", async () => {
    const { gw: ready, opened } = awsGateway({ AWS_REGION: 'sa-east-1' });
    const gw = await ready;
    const body = (await (await gw.request('/vms/list', postJson({ provider: 'aws' }))).json()) as { vms: { path: string }[] };
    expect(body.vms.map((v) => v.path)).toEqual(['/sa-east-1/i-0aaa1111', '/sa-east-1/i-0bbb2222']);
    expect(opened).toEqual([{ region: 'sa-east-1' }]);
  });

  it.each([
    ['/vms/list?provider=aws', undefined, 'region', /^region: is required for provider aws: give region/],
    ['/vms/list?provider=aws&region=Frankfurt', undefined, 'region', /^region: "Frankfurt" is not an AWS region name such as us-east-1/],
    ['/vms/list?provider=gcp', undefined, 'provider', /^provider: must be vsphere, aws or azure$/],
    ['/vms/list?region=eu-west-1', undefined, 'region', /^region: is for provider aws/],
    ['/vms/list', { provider: 'aws', region: 'eu-west-1', server: 'vc.example', username: 'u', password: 'hunter2' }, 'server', /^server: vCenter settings do not apply to provider aws/],
    ['/vms/list', { provider: 'aws', region: 'eu-west-1', profile: 'a b' }, 'profile', /^profile: "a b" is not a profile name of the shared AWS config/],
    ['/vms/info', { provider: 'aws', vm_path: '/eu-west-1/i-0aaa1111', region: 'us-east-1' }, 'vm_path', /^vm_path: names region eu-west-1 but region is us-east-1/],
    ['/vms/shutdown', { provider: 'aws', vm_path: 'i-0aaa1111', region: 'eu-west-1' }, 'provider', /^provider: \/vms\/shutdown is not supported for provider aws/],
    ['/vms/poweroff', { provider: 'aws', vm_path: 'i-0aaa1111' }, 'provider', /^provider: \/vms\/poweroff is not supported for provider aws/],
    ['/vms/remove-cdrom', { provider: 'aws', vm_path: 'i-0aaa1111' }, 'provider', /^provider: \/vms\/remove-cdrom is not supported for provider aws/],
  ])('%s %j: 400 naming %s', async (path, body, field, expected) => {
    const { gw: ready, opened } = awsGateway();
    const gw = await ready;
    const res = await gw.request(path, body === undefined ? undefined : postJson(body));
    const answer = (await res.json()) as { error: string; field: string };
    expect(res.status).toBe(400);
    expect(answer.field).toBe(field);
    expect(answer.error).toMatch(expected);
    expect(JSON.stringify(answer)).not.toContain('hunter2');
    expect(opened).toEqual([]);
  });

  it('POST /vms/info describes an instance by id, Name tag or listed path; a missing one is 404', async () => {
    const { gw: ready, opened } = awsGateway();
    const gw = await ready;
    const byId = (await (await gw.request('/vms/info', postJson({ provider: 'aws', vm_path: 'i-0bbb2222', region: 'eu-west-1' }))).json()) as {
      success: boolean;
      vm_info: Record<string, unknown>;
      vm: Record<string, unknown>;
    };
    expect(byId.success).toBe(true);
    expect(byId.vm_info).toMatchObject({ name: 'db-1', path: '/eu-west-1/i-0bbb2222' });
    expect(byId.vm).toMatchObject({ provider: 'aws', firmware: 'efi', disks: [{ label: '/dev/xvda', backing_file: 'vol-0aaa' }] });
    const byPath = await gw.request('/vms/info', postJson({ provider: 'aws', vm_path: '/ap-northeast-1/web-1' }));
    expect(byPath.status).toBe(200);
    expect(opened.at(-1)).toEqual({ region: 'ap-northeast-1' });
    const missing = await gw.request('/vms/info', postJson({ provider: 'aws', vm_path: 'i-0nothere', region: 'eu-west-1' }));
    expect(missing.status).toBe(404);
  });

  it('reports AWS failures as "AWS: ..." (502), a region AWS refuses as 400 naming region, and opens again after a failure', async () => {
    const denied = awsGateway({}, Object.assign(new Error('The security token included in the request is invalid'), { type: 'AuthenticationFailed' }));
    const gw = await denied.gw;
    const res = await gw.request('/vms/list?provider=aws&region=eu-west-1');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: 'AWS: The security token included in the request is invalid', error_type: 'AuthenticationFailed' });
    await gw.request('/vms/list?provider=aws&region=eu-west-1');
    expect(denied.opened).toHaveLength(2);

    // As the AWS provider reports it: its failure type, AWS's code in the details, a message naming AWS and the region.
    const optIn = awsGateway(
      {},
      Object.assign(new Error('AWS af-south-1: access denied to ec2:DescribeInstances (OptInRequired) for instances'), { type: 'SourceRefused', details: [{ awsCode: 'OptInRequired' }] }),
    );
    const refused = await (await optIn.gw).request('/vms/list?provider=aws&region=af-south-1');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      field: 'region',
      error: 'region: AWS refused the region: AWS af-south-1: access denied to ec2:DescribeInstances (OptInRequired) for instances',
    });
    const quota = awsGateway({}, Object.assign(new Error('AWS eu-west-1: ec2:DescribeInstances for instances failed: RequestLimitExceeded'), { type: 'RequestLimitExceeded' }));
    const busy = await (await quota.gw).request('/vms/list?provider=aws&region=eu-west-1');
    expect(busy.status).toBe(502);
    expect(await busy.json()).toMatchObject({ error: 'AWS eu-west-1: ec2:DescribeInstances for instances failed: RequestLimitExceeded' });
  });

  it('releases the AWS providers when the gateway closes', async () => {
    const { gw: ready, providers } = awsGateway();
    const gw = await ready;
    await gw.request('/vms/list?provider=aws&region=eu-west-1');
    await gw.request('/vms/list?provider=aws&region=eu-west-2');
    await gw.close();
    expect(providers.map((p) => p.loggedOut)).toEqual([1, 1]);
  });
});

describe('/openapi.json', () => {
  it('documents provider aws, source, options.keep_snapshots and since_snapshot, result.kept_snapshot and the VM list region', async () => {
    const gw = await gateway();
    const parsed = (await (await gw.request('/openapi.json')).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>> };
    const submit = parsed.paths['/jobs/submit']!.post!.requestBody!.content['application/json']!.schema as {
      definitions: Record<string, { properties: Record<string, { enum?: string[]; allOf?: { $ref: string }[]; properties?: Record<string, unknown> }> }>;
    };
    const job = submit.definitions.JobDefinitionInput!.properties;
    expect(job.provider!.enum).toEqual(['vsphere', 'aws', 'azure']);
    expect(job.source!.allOf).toEqual([{ $ref: '#/definitions/CloudSource' }]);
    expect(Object.keys(submit.definitions.CloudSource!.properties)).toEqual(['region', 'profile', 'subscription_id', 'resource_group']);
    expect(Object.keys(job.options!.properties!)).toContain('keep_snapshots');
    expect(Object.keys(job.options!.properties!)).toContain('since_snapshot');
    expect(JSON.stringify(job.options!.properties!.since_snapshot)).toContain('"pattern"');
    const listSchema = JSON.stringify(parsed.paths['/vms/list']!.post!.requestBody!.content['application/json']!.schema);
    expect(listSchema).toContain('"region"');
    const listQuery = (parsed.paths['/vms/list']!.get as unknown as { parameters: { name: string }[] }).parameters.map((p) => p.name);
    expect(listQuery).toEqual(['provider', 'region', 'profile']);
    const jobSchema = JSON.stringify((parsed.paths['/jobs/{id}'] as unknown as { get: { responses: Record<string, unknown> } }).get.responses['200']);
    expect(jobSchema).toContain('"keep_snapshots"');
    expect(jobSchema).toContain('"since_snapshot"');
    expect(jobSchema).toContain('"kept_snapshot"');
    expect(jobSchema).toContain('"source"');
  });
});
