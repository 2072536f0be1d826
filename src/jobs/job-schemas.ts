// A job as the REST API, the CLIs and hyperexport show it, as zod schemas: the
// gateway validates and documents (/openapi.json) with them, and src/jobs/ builds
// these views from the export workflow's progress and result.
import { z } from 'zod';

/** Job ids become workflow ids and URL segments: no ':' (hyper2kvm splits on it), no '/'. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Our export methods (what our CLIs show, definition.method). */
export const EXPORT_METHODS = ['auto', 'ovf', 'datastore'] as const;
/** The original daemon's vocabulary ("" = automatic), what its clients decode from definition.export_method. */
export const ORIGINAL_EXPORT_METHODS = ['', 'ctl', 'govc', 'ovftool', 'web'] as const;
export type OriginalExportMethod = (typeof ORIGINAL_EXPORT_METHODS)[number];

export const jobDefinitionSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    vm_path: z.string(),
    output_path: z.string(),
    output_dir: z.string().meta({ description: 'the same as output_path (the original daemon\'s web API name)' }),
    format: z.enum(['ovf', 'ova', 'raw', 'qcow2', 'vhd']).meta({ description: 'what will be produced' }),
    export_method: z
      .enum(ORIGINAL_EXPORT_METHODS)
      .meta({ description: 'the original daemon\'s vocabulary: what the client sent if it was one of those, else ours mapped (auto -> "", ovf -> govc, datastore -> web)' }),
    method: z.enum(EXPORT_METHODS).meta({ description: 'how this server exports: auto, ovf or datastore' }),
    provider: z.enum(['vsphere', 'aws', 'azure']),
    profile: z.string().optional().meta({ description: 'provider vsphere: the vCenter profile' }),
    source: z
      .union([
        z.object({ region: z.string(), profile: z.string().optional() }),
        z.object({ subscription_id: z.string(), resource_group: z.string().optional() }),
      ])
      .optional()
      .meta({
        description:
          "provider aws: the region, and the profile of the worker's shared AWS config (absent: its default credential chain); provider azure: the subscription, and the resource group when vm_path is a VM name",
      }),
    overwrite: z.boolean().optional(),
    options: z.object({
      parallel_downloads: z.number().int(),
      remove_cdrom: z.boolean(),
      snapshot: z.boolean(),
      power_off: z.boolean(),
      shutdown_timeout_seconds: z.number().int(),
      keep_snapshots: z.boolean().optional().meta({ description: 'providers aws and azure: the snapshots the export took are kept' }),
      since_snapshot: z
        .string()
        .optional()
        .meta({ description: 'provider aws, an incremental export: the earlier snapshot of the same disks whose changes since are read (as the job gave it)' }),
    }),
    created_at: z.string(),
  })
  .meta({ id: 'JobDefinition' });
export type JobDefinition = z.infer<typeof jobDefinitionSchema>;

export const diskProgressSchema = z.object({
  key: z.number().int(),
  file: z.string(),
  state: z.enum(['pending', 'transferring', 'done', 'failed']),
  bytes_done: z.number(),
  size_bytes: z.number(),
  attempts: z.number().int(),
  method: z.enum(['ovf', 'datastore']).optional().meta({ description: 'how this disk is read: datastore (ranged reads, resumable) or ovf (NFC stream)' }),
  reason: z.string().optional().meta({ description: 'why that method, e.g. "resumable" or "stream: restarts from zero if interrupted, because ..."' }),
});

export const jobProgressSchema = z
  .object({
    phase: z.string(),
    method: z.enum(['ovf', 'datastore']).optional(),
    vm_name: z.string().optional(),
    current_file: z.string(),
    files_downloaded: z.number().int(),
    total_files: z.number().int(),
    bytes_downloaded: z.number(),
    total_bytes: z.number(),
    percent_complete: z.number(),
    bytes_transferred: z.number().meta({ description: 'the same as bytes_downloaded' }),
    speed_mbps: z.number().meta({ description: 'MiB per second' }),
    transfer_rate_mbps: z.number().meta({ description: 'the same as speed_mbps' }),
    export_method: z.enum(['ovf', 'datastore']).optional().meta({ description: 'the same as method, once known' }),
    current_step: z.string().optional(),
    elapsed_seconds: z.number().meta({ description: 'since started_at (to completed_at once the job ended)' }),
    estimated_remaining: z.string().meta({ description: 'Go duration string, e.g. "1m30s"; empty when unknown' }),
    estimated_remaining_seconds: z.number().optional(),
    disks: z.array(diskProgressSchema),
  })
  .meta({ id: 'JobProgress' });
export type JobProgress = z.infer<typeof jobProgressSchema>;

export const jobResultSchema = z
  .object({
    vm_name: z.string(),
    method: z.enum(['ovf', 'datastore']),
    output_dir: z.string(),
    ovf_path: z.string(),
    ova_path: z.string().optional(),
    manifest_path: z.string(),
    files: z.array(z.string()).meta({ description: 'paths of the exported files' }),
    file_details: z.array(
      z.object({ name: z.string(), path: z.string(), size: z.number(), sha256: z.string().optional().meta({ description: 'absent for an OVA written in place (its members are verified by its manifest)' }) }),
    ),
    members: z
      .array(z.object({ name: z.string(), size: z.number(), sha256: z.string() }))
      .optional()
      .meta({ description: 'format ova written in place: the members of the archive (descriptor, manifest, disks) with their SHA-256' }),
    output_files: z.array(z.string()).meta({ description: 'the same as files' }),
    total_size: z.number(),
    duration: z.number().int().meta({ description: 'integer nanoseconds (Go time.Duration), as the original daemon' }),
    duration_seconds: z.number().meta({ description: 'seconds' }),
    success: z.literal(true),
    export_method: z.enum(['ovf', 'datastore']).meta({ description: 'the same as method' }),
    disks: z
      .array(z.object({ key: z.number().int(), file: z.string(), method: z.enum(['ovf', 'datastore']), reason: z.string() }))
      .optional()
      .meta({ description: 'how each disk was read (datastore: resumable; ovf: NFC stream) and why' }),
    kept_snapshot: z
      .string()
      .optional()
      .meta({
        description:
          'with options.keep_snapshots: the snapshots the export read and kept. AWS: vol-…=snap-… pairs, comma-separated; give it as options.since_snapshot of the next export to the same output_path to read only what changed since. Azure: <managed disk id>=<snapshot id> pairs, comma-separated (each snapshot tagged hypersdk:created-by)',
      }),
    since_snapshot: z.string().optional().meta({ description: 'an incremental export: the earlier snapshot its changes were read since (options.since_snapshot)' }),
  })
  .meta({ id: 'JobResult' });
export type JobResult = z.infer<typeof jobResultSchema>;

export const jobSchema = z
  .object({
    definition: jobDefinitionSchema,
    status: z.enum(JOB_STATUSES),
    progress: jobProgressSchema.optional(),
    result: jobResultSchema.optional(),
    error: z.string().optional(),
    error_type: z.string().optional(),
    started_at: z.string(),
    completed_at: z.string().optional(),
    updated_at: z.string(),
  })
  .meta({ id: 'Job' });
export type Job = z.infer<typeof jobSchema>;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const jobLogLineSchema = z.object({
  timestamp: z.string(),
  level: z.enum(LOG_LEVELS),
  message: z.string(),
  source: z.enum(['history', 'worker']).meta({ description: 'history: the workflow\'s Temporal history; worker: the worker\'s own log lines for the job' }),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type JobLogLine = z.infer<typeof jobLogLineSchema>;
