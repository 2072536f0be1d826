// hyperexport through hypervisord's REST API (the shared DaemonClient: its errors
// already carry the exit code and tell the user what to do).
import type { Job } from '../../jobs/job-schemas.js';
import type { DaemonClient } from '../daemon-client.js';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { ExportBackend, ExportRequest, VmInfo, VmRow } from './backend.js';

interface SubmitResponse {
  job_ids: string[];
  accepted: number;
  errors?: string[];
}

export class DaemonBackend implements ExportBackend {
  readonly label: string;
  readonly url: string;
  readonly picksOutput = true;
  constructor(
    private readonly client: DaemonClient,
    private readonly profile?: string,
  ) {
    this.url = client.url;
    this.label = `the daemon at ${client.url}`;
  }

  async listVms(): Promise<VmRow[]> {
    const query = this.profile ? `?profile=${encodeURIComponent(this.profile)}` : '';
    return (await this.client.get<{ vms: VmRow[] }>(`/vms/list${query}`)).vms;
  }

  async describeVm(vmPath: string): Promise<VmInfo> {
    return (await this.client.post<{ vm: VmInfo }>('/vms/info', { vm_path: vmPath, ...(this.profile ? { profile: this.profile } : {}) })).vm;
  }

  async submit(request: ExportRequest): Promise<string> {
    let response: SubmitResponse;
    try {
      response = await this.client.post<SubmitResponse>('/jobs/submit', { ...request, ...(this.profile ? { profile: this.profile } : {}) });
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
