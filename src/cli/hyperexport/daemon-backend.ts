// hyperexport through hypervisord's REST API (the shared DaemonClient: its errors
// already carry the exit code and tell the user what to do).
import type { Job } from '../../jobs/job-schemas.js';
import type { DaemonClient } from '../daemon-client.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CloudSourceFlags, ExportBackend, ExportRequest, VmInfo, VmRow } from './backend.js';

interface SubmitResponse {
  job_ids: string[];
  accepted: number;
  errors?: string[];
}

export class DaemonBackend implements ExportBackend {
  readonly label: string;
  readonly url: string;
  readonly picksOutput = true;
  /** The fields that name where the daemon reads: a vCenter profile, or a cloud provider and its source fields. */
  private readonly target: Record<string, string>;
  constructor(
    private readonly client: DaemonClient,
    private readonly profile?: string,
    /** -provider aws or azure: the VMs are the EC2 instances of a region, or the VMs of a subscription. */
    private readonly cloud?: CloudSourceFlags,
  ) {
    this.url = client.url;
    this.label = cloud ? `the daemon at ${client.url} (${cloudLabel(cloud)})` : `the daemon at ${client.url}`;
    this.target = cloud ? { provider: cloud.provider, ...cloud.fields } : profile ? { profile } : {};
  }

  async listVms(): Promise<VmRow[]> {
    const query = new URLSearchParams(this.target).toString();
    return (await this.client.get<{ vms: VmRow[] }>(`/vms/list${query ? `?${query}` : ''}`)).vms;
  }

  async describeVm(vmPath: string): Promise<VmInfo> {
    return (await this.client.post<{ vm: VmInfo }>('/vms/info', { vm_path: vmPath, ...this.target })).vm;
  }

  /** The submit body: the request with its source (a cloud provider and its source fields). */
  private jobBody(request: ExportRequest): Record<string, unknown> {
    if (!this.cloud) return { ...request, ...(this.profile ? { profile: this.profile } : {}) };
    const source = this.cloud.fields;
    return { ...request, provider: this.cloud.provider, ...(Object.keys(source).length ? { source } : {}) };
  }

  async submit(request: ExportRequest): Promise<string> {
    let response: SubmitResponse;
    try {
      response = await this.client.post<SubmitResponse>('/jobs/submit', this.jobBody(request));
    } catch (err) {
      const body = (err as { body?: SubmitResponse }).body;
      if (err instanceof CliError && body?.errors?.length) throw new CliError(`the daemon refused ${request.vm_path}: ${body.errors.join('; ')}`, ExitCode.Failed);
      throw err;
    }
    const id = response.job_ids[0];
    if (response.accepted < 1 || !id) throw new CliError(`the daemon refused ${request.vm_path}: ${(response.errors ?? ['no reason given']).join('; ')}`, ExitCode.Failed);
    return id;
  }

  job(id: string): Promise<Job> {
    return this.client.get<Job>(`/jobs/${encodeURIComponent(id)}`);
  }

  async cancel(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const response = await this.client.post<{ errors?: Record<string, string> }>('/jobs/cancel', { job_ids: ids });
    return Object.values(response.errors ?? {});
  }

  async close(): Promise<void> {}
}

/** "AWS eu-west-1", "Azure subscription …": where the VMs listed are. */
function cloudLabel(cloud: CloudSourceFlags): string {
  if (cloud.provider === 'aws') return `AWS${cloud.fields.region ? ` ${cloud.fields.region}` : ''}`;
  const { subscription_id: subscription, resource_group: group } = cloud.fields;
  return `Azure${subscription ? ` subscription ${subscription}` : ''}${group ? ` resource group ${group}` : ''}`;
}
