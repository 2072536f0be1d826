// Where hyperexport sends its work: the daemon's REST API, or (standalone) an
// in-process worker on Temporal. Both speak the REST contract's shapes, so the
// selection, dry-run and progress code does not care which one runs.
import type { ExportFormat } from '../../core/export-contract.js';
import type { Job } from '../../jobs/job-schemas.js';
import type { VmRow } from '../daemon-client.js';

/** One VM as GET /vms/list returns it (shared with hyperctl vms). */
export type { VmRow };

export interface VmDisk {
  key: number;
  label: string;
  capacity_bytes: number;
  backing_file: string;
  datastore: string;
}

/** The part of POST /vms/info's `vm` that hyperexport shows. */
export interface VmInfo extends VmRow {
  disks: VmDisk[];
  cdroms: { key: number; label: string; iso_file?: string }[];
}

/** A submit body as POST /jobs/submit takes it. */
export interface ExportRequest {
  id: string;
  name: string;
  vm_path: string;
  output_path?: string;
  format?: ExportFormat;
  export_method?: 'auto' | 'ovf' | 'datastore';
  /** vCenter profile of the daemon's configuration. */
  profile?: string;
  options: { parallel_downloads?: number; remove_cdrom?: boolean; snapshot?: boolean; power_off?: boolean; keep_snapshots?: boolean; since_snapshot?: string };
}

/**
 * -provider aws or azure: where the daemon reads, as the request fields that name
 * it (aws: region, profile; azure: subscription_id, resource_group). A field left
 * out is the daemon's default (aws.region, azure.subscription_id ...).
 */
export interface CloudSourceFlags {
  provider: 'aws' | 'azure';
  fields: Record<string, string>;
}

export interface ExportBackend {
  /** For messages: "the daemon at http://..." or "standalone (vCenter ...)". */
  readonly label: string;
  /** A daemon picks an output directory when none is given; standalone mode has none to pick. */
  readonly picksOutput: boolean;
  listVms(): Promise<VmRow[]>;
  describeVm(vmPath: string): Promise<VmInfo>;
  /** Starts an export; resolves to its job id. Throws CliError when it is refused. */
  submit(request: ExportRequest): Promise<string>;
  /** The job as GET /jobs/{id} shows it (status, progress, result, error). */
  job(id: string): Promise<Job>;
  /** Requests cancellation; resolves to the error messages of the ones that could not be cancelled. */
  cancel(ids: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}

export const FINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);
