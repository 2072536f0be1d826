// Text rendering of jobs and sizes. hyper2kvm greps `hyperctl query` output for
// the status word, so a job that is not finished must not mention
// completed/failed/cancelled anywhere but in its status (see guardStatusWords).
import type { Job } from '../jobs/job-schemas.js';
import { styles, type CliIo } from './io.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const FINAL_WORDS = /(complet|fail|cancel)(ed|led)\b/gi;

/** Hides final-state words in text shown for a job that is not in a final state. */
export function guardStatusWords(text: string, status: string): string {
  if (['completed', 'failed', 'cancelled'].includes(status)) return text;
  // "complet-ed" still reads fine for a person and no longer matches a grep.
  return text.replace(FINAL_WORDS, (_m, stem: string, suffix: string) => `${stem}-${suffix}`);
}

export function renderJob(job: Job, io: CliIo): string {
  const s = styles(io);
  const colour = job.status === 'completed' ? s.green : job.status === 'failed' ? s.red : job.status === 'cancelled' ? s.yellow : s.bold;
  const d = job.definition;
  const detail: string[] = [];
  detail.push(`  Name:     ${d.name}`);
  // A cloud job names where the VM is (an instance id or VM name alone does not say).
  detail.push(`  VM:       ${d.vm_path}${whereOf(d.source)}`);
  detail.push(`  Output:   ${d.output_path}`);
  detail.push(`  Started:  ${job.started_at}`);
  const p = job.progress;
  if (p && job.status === 'running') {
    detail.push(`  Phase:    ${p.phase}${p.method ? ` (${p.method})` : ''}`);
    if (p.total_bytes > 0) {
      const eta = p.estimated_remaining ? `, ETA ${p.estimated_remaining}` : '';
      detail.push(`  Progress: ${p.percent_complete.toFixed(1)}% ${formatBytes(p.bytes_downloaded)} / ${formatBytes(p.total_bytes)}, files ${p.files_downloaded}/${p.total_files}, ${p.speed_mbps.toFixed(1)} MiB/s${eta}`);
    }
    if (p.current_file) detail.push(`  Current:  ${p.current_file}`);
  }
  // How each disk is (or was) read: datastore resumes, an NFC stream restarts from zero.
  const methods = job.result?.disks ?? p?.disks.flatMap((disk) => (disk.method ? [{ file: disk.file, method: disk.method, reason: disk.reason ?? '' }] : [])) ?? [];
  for (const m of methods) detail.push(`  Disk:     ${m.file}: ${m.method}${m.reason ? ` (${m.reason})` : ''}`);
  if (job.result) {
    detail.push(`  OVF:      ${job.result.ovf_path}`);
    if (job.result.ova_path) detail.push(`  OVA:      ${job.result.ova_path}`);
    detail.push(`  Files:    ${job.result.files.length} (${formatBytes(job.result.total_size)}) in ${job.result.duration_seconds}s`);
    // AWS: an incremental export names what it read changes since; an export with
    // -keep-snapshots what it kept, which the next one takes as -since-snapshot.
    if (job.result.since_snapshot) detail.push(`  Since:    ${job.result.since_snapshot} (incremental: only the blocks changed since were read)`);
    if (job.result.kept_snapshot) detail.push(`  Kept:     ${job.result.kept_snapshot} (EBS snapshots kept; -since-snapshot for the next export to this output)`);
  }
  if (job.completed_at) detail.push(`  Ended:    ${job.completed_at}`);
  if (job.error) detail.push(`  Error:    ${job.error}`);
  const body = guardStatusWords(detail.join('\n'), job.status);
  const header = guardStatusWords(`Job ${d.id}`, job.status);
  return `${header}\n  Status:   ${colour(job.status)}\n${body}\n`;
}

function whereOf(source: Job['definition']['source']): string {
  if (!source) return '';
  if ('region' in source) return ` (AWS ${source.region})`;
  return ` (Azure subscription ${source.subscription_id}${source.resource_group ? `, resource group ${source.resource_group}` : ''})`;
}
