// Maps what Temporal knows about an export workflow to the REST contract's job
// shape. Pure functions: the Temporal calls live in ./temporal-jobs.ts.
import type { DiskProgress, ExportProgress, ExportResult, TransferHeartbeat } from '../core/export-contract.js';
import type { Job, JobDefinition, JobProgress, JobResult, JobStatus } from './job-schemas.js';
import { definitionView } from './definition.js';
import { goDuration } from './durations.js';

const MIB = 1024 * 1024;

export interface ProgressInputs {
  status: JobStatus;
  query?: ExportProgress;
  heartbeats: TransferHeartbeat[];
  /** Bytes per second, computed by the caller from successive observations. */
  rate?: number;
  /** Seconds since the job started (to its end once it ended). */
  elapsedSeconds?: number;
}

/** Disks from the query, with live byte counts from heartbeats laid over them. */
function mergeDisks(query: ExportProgress | undefined, heartbeats: TransferHeartbeat[]): DiskProgress[] {
  const disks = (query?.disks ?? []).map((d) => ({ ...d }));
  for (const hb of heartbeats) {
    const disk = disks.find((d) => d.key === hb.diskKey);
    if (disk) {
      if (disk.state !== 'done') {
        disk.bytesDone = Math.max(disk.bytesDone, hb.bytesDone);
        disk.state = 'transferring';
      }
    } else {
      // Heartbeat without a query answer (no worker to ask): still show the bytes.
      disks.push({ key: hb.diskKey, fileName: `disk-${hb.diskKey}`, sizeBytes: hb.sizeBytes, bytesDone: hb.bytesDone, state: 'transferring', attempts: 1 });
    }
  }
  return disks;
}

export function progressView(inputs: ProgressInputs): JobProgress {
  const disks = mergeDisks(inputs.query, inputs.heartbeats);
  const totalBytes = disks.reduce((n, d) => n + d.sizeBytes, 0);
  const completed = inputs.status === 'completed';
  const bytes = completed ? totalBytes : disks.reduce((n, d) => n + Math.min(d.bytesDone, d.sizeBytes || d.bytesDone), 0);
  const rate = inputs.rate ?? 0;
  const remainingSeconds = rate > 0 && totalBytes > bytes ? (totalBytes - bytes) / rate : undefined;
  const current = disks.find((d) => d.state === 'transferring');
  // The phase follows the job status once it is final, so the two never disagree.
  const phase = ['completed', 'failed', 'cancelled'].includes(inputs.status)
    ? inputs.status
    : inputs.query?.phase && !['completed', 'failed', 'cancelled'].includes(inputs.query.phase)
      ? inputs.query.phase
      : inputs.status === 'pending'
        ? 'pending'
        : disks.length
          ? 'transferring'
          : 'connecting';
  const speed = completed ? 0 : Math.round((rate / MIB) * 100) / 100;
  const method = inputs.query?.method;
  return {
    phase,
    ...(method ? { method, export_method: method } : {}),
    ...(inputs.query?.vmName ? { vm_name: inputs.query.vmName } : {}),
    current_file: completed ? '' : (current?.fileName ?? ''),
    files_downloaded: completed ? disks.length : disks.filter((d) => d.state === 'done').length,
    total_files: disks.length,
    bytes_downloaded: bytes,
    bytes_transferred: bytes,
    total_bytes: totalBytes,
    percent_complete: completed ? 100 : totalBytes > 0 ? Math.round((bytes / totalBytes) * 10_000) / 100 : 0,
    speed_mbps: speed,
    transfer_rate_mbps: speed,
    elapsed_seconds: Math.max(0, Math.round((inputs.elapsedSeconds ?? 0) * 1000) / 1000),
    estimated_remaining: remainingSeconds !== undefined ? goDuration(remainingSeconds) : '',
    ...(remainingSeconds !== undefined ? { estimated_remaining_seconds: Math.round(remainingSeconds) } : {}),
    disks: disks.map((d) => ({
      key: d.key,
      file: d.fileName,
      state: d.state,
      bytes_done: completed ? d.sizeBytes : d.bytesDone,
      size_bytes: d.sizeBytes,
      attempts: d.attempts,
      ...(d.method ? { method: d.method } : {}),
      ...(d.methodReason ? { reason: d.methodReason } : {}),
    })),
  };
}

function joinPath(dir: string, name: string): string {
  if (name.startsWith('/') || /^[a-z0-9]+:\/\//i.test(name)) return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function resultView(result: ExportResult): JobResult {
  const files = result.files.map((f) => joinPath(result.outputDir, f.name));
  return {
    vm_name: result.vmName,
    method: result.method,
    export_method: result.method,
    success: true,
    output_dir: result.outputDir,
    ovf_path: result.ovfPath,
    ...(result.ovaPath ? { ova_path: result.ovaPath } : {}),
    manifest_path: result.manifestPath,
    files,
    output_files: files,
    file_details: result.files.map((f) => ({ name: f.name, path: joinPath(result.outputDir, f.name), size: f.sizeBytes, ...(f.sha256 ? { sha256: f.sha256 } : {}) })),
    ...(result.members ? { members: result.members.map((m) => ({ name: m.name, size: m.sizeBytes, sha256: m.sha256 ?? '' })) } : {}),
    total_size: result.totalSize,
    // Go's time.Duration: the original's clients decode an integer of nanoseconds.
    duration: Math.round(result.durationMs * 1_000_000),
    duration_seconds: Math.round(result.durationMs) / 1000,
    ...(result.diskMethods ? { disks: result.diskMethods.map((m) => ({ key: m.diskKey, file: m.fileName, method: m.method, reason: m.reason })) } : {}),
    // What a client chains incremental exports with: this one's kept_snapshot is the next one's since_snapshot.
    ...(result.keptSnapshot !== undefined ? { kept_snapshot: result.keptSnapshot } : {}),
    ...(result.sinceSnapshot !== undefined ? { since_snapshot: result.sinceSnapshot } : {}),
  };
}

export interface JobViewInputs {
  definition: JobDefinition;
  status: JobStatus;
  startedAt: Date;
  closedAt?: Date;
  progress?: JobProgress;
  progressUpdatedAt?: string;
  result?: ExportResult;
  error?: { type?: string; message: string };
}

export function jobView(v: JobViewInputs): Job {
  const updated = v.closedAt?.toISOString() ?? v.progressUpdatedAt ?? v.startedAt.toISOString();
  return {
    definition: definitionView(v.definition),
    status: v.status,
    ...(v.progress ? { progress: v.progress } : {}),
    ...(v.result ? { result: resultView(v.result) } : {}),
    ...(v.error ? { error: v.error.message, ...(v.error.type ? { error_type: v.error.type } : {}) } : {}),
    started_at: v.startedAt.toISOString(),
    ...(v.closedAt ? { completed_at: v.closedAt.toISOString() } : {}),
    updated_at: updated,
  };
}
