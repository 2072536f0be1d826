// The job definition as clients read it. Two vocabularies for the export method
// live side by side: `method` is ours (auto, ovf, datastore; our CLIs show it) and
// `export_method` is the original daemon's ("", ctl, govc, ovftool, web), because
// its Python SDK builds an enum from that field and raises on any other value.
import { isAwsSource, isAzureSource, type ExportMethod, type ExportOptions, type SourceRef } from '../core/export-contract.js';
import { EXPORT_METHODS, ORIGINAL_EXPORT_METHODS, type JobDefinition, type OriginalExportMethod } from './job-schemas.js';

const ORIGINAL_OF: Record<ExportMethod, OriginalExportMethod> = { auto: '', ovf: 'govc', datastore: 'web' };

/** Our method in the original vocabulary: auto -> "", ovf -> govc (an OVF export), datastore -> web (HTTP file reads). */
export function originalMethodOf(method: ExportMethod): OriginalExportMethod {
  return ORIGINAL_OF[method];
}

export function isOriginalMethod(value: unknown): value is OriginalExportMethod {
  return (ORIGINAL_EXPORT_METHODS as readonly unknown[]).includes(value);
}

function isOurMethod(value: unknown): value is ExportMethod {
  return (EXPORT_METHODS as readonly unknown[]).includes(value);
}

/**
 * A stored definition (workflow memo) in today's shape. Memos written before
 * `method` existed hold our vocabulary in export_method; the two vocabularies do
 * not overlap, so the value says which one it is.
 */
export function definitionView(stored: JobDefinition): JobDefinition {
  const legacy = stored as Omit<JobDefinition, 'method' | 'export_method' | 'output_dir'> & { method?: unknown; export_method?: unknown; output_dir?: unknown };
  const method: ExportMethod = isOurMethod(legacy.method) ? legacy.method : isOurMethod(legacy.export_method) ? legacy.export_method : 'auto';
  const exportMethod = isOriginalMethod(legacy.export_method) ? legacy.export_method : originalMethodOf(method);
  if (stored.method === method && stored.export_method === exportMethod && stored.output_dir === stored.output_path) return stored;
  return { ...stored, output_dir: stored.output_path, export_method: exportMethod, method };
}

/**
 * How a definition names its source: a vSphere job its profile at the top level
 * (the shape hyper2kvm reads, unchanged), an AWS job its region and shared-config
 * profile under `source`.
 */
export function definitionSourceFields(source: SourceRef): Pick<JobDefinition, 'profile' | 'source'> {
  if (isAwsSource(source)) return { source: { region: source.region, ...(source.profile ? { profile: source.profile } : {}) } };
  if (isAzureSource(source)) return { source: { subscription_id: source.subscriptionId, ...(source.resourceGroup ? { resource_group: source.resourceGroup } : {}) } };
  return source.profile ? { profile: source.profile } : {};
}

/** The options of a definition that only some sources have (AWS and Azure: keep_snapshots; AWS: since_snapshot when given). */
export function definitionSourceOptions(source: SourceRef, options: ExportOptions): Pick<JobDefinition['options'], 'keep_snapshots' | 'since_snapshot'> {
  if (!isAwsSource(source) && !isAzureSource(source)) return {};
  return { keep_snapshots: options.keepSnapshots ?? false, ...(options.sinceSnapshot !== undefined ? { since_snapshot: options.sinceSnapshot } : {}) };
}
