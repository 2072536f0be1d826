// What a client of the ORIGINAL Go hypersdk accepts, written down independently of
// our gateway's own schemas (a judge never takes its truth from the code it judges).
// Two readers set the bar, and each schema is as strict as the stricter of them:
//  - Go's encoding/json decoding into the original's structs (daemon/models/job.go):
//    an int/int64 field takes only an integer, a time.Time only an RFC 3339 string,
//    a bool only true/false, a string only a string;
//  - the original Python SDK (sdk/python/hypersdk/models.py, client.py): the keys it
//    indexes with data["..."] must be there, the values it feeds to an Enum must be
//    members, and datetime.fromisoformat (Python >= 3.8, the SDK's floor) must parse
//    every time it reads.
// Keys neither reader knows are allowed: both ignore them.
import { z } from 'zod';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Why `text` is not a time Go's time.Time and Python 3.8's fromisoformat both parse, or undefined. */
export function goTimeProblem(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return 'is not an RFC 3339 date-time (Go time.Time rejects it)';
  const [, y, mo, d, h, mi, s, frac] = m.map((p) => p ?? '');
  const month = Number(mo);
  const daysInMonth = new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
  if (month < 1 || month > 12 || Number(d) < 1 || Number(d) > daysInMonth)
    return 'has a day that does not exist';
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return 'has an out-of-range time of day';
  // Python 3.8-3.10 fromisoformat (after the SDK's replace("Z", "+00:00")) takes
  // 0, 3 or 6 fraction digits only; Go's RFC3339Nano trims to any count.
  if (frac && frac.length !== 4 && frac.length !== 7)
    return `has ${frac.length - 1} fraction digits; Python < 3.11 fromisoformat takes 3 or 6`;
  return undefined;
}

export const goTime = z.string().superRefine((text, ctx) => {
  const problem = goTimeProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} ${problem}` });
});

/** Go's time.Duration.String() / time.ParseDuration syntax ("1m2.5s", "850ms", "0s"). */
const GO_DURATION = /^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;
export const goDurationString = z
  .string()
  .regex(GO_DURATION, 'is not a Go duration string (time.ParseDuration syntax)');

/** Go int / int64: a JSON integer (JS numbers past 2^53 would not round-trip either). */
export const goInt = z.number().int().refine(Number.isSafeInteger, 'is not an integer Go can decode exactly');
export const goUint = goInt.refine((n) => n >= 0, 'is negative');
export const goInt32 = goInt.refine((n) => n >= -(2 ** 31) && n < 2 ** 31, 'does not fit Go int32');

const jobStatus = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']);
/** models.py ExportFormat / ExportMethod: any other value makes Job.from_dict raise. */
const exportFormat = z.enum(['qcow2', 'raw', 'vmdk', 'ova', 'ovf']);
const exportMethod = z.enum(['ctl', 'govc', 'ovftool', 'web', '']);

const vcenterConfig = z.looseObject({
  server: z.string().optional(),
  username: z.string().optional(),
  insecure: z.boolean().optional(),
});

const exportOptions = z.looseObject({
  parallel_downloads: goInt.optional(),
  remove_cdrom: z.boolean().optional(),
  show_individual_progress: z.boolean().optional(),
  enable_pipeline: z.boolean().optional(),
  hyper2kvm_path: z.string().optional(),
  pipeline_inspect: z.boolean().optional(),
  pipeline_fix: z.boolean().optional(),
  pipeline_convert: z.boolean().optional(),
  pipeline_validate: z.boolean().optional(),
  pipeline_compress: z.boolean().optional(),
  compress_level: goInt.optional(),
  libvirt_integration: z.boolean().optional(),
  libvirt_uri: z.string().optional(),
  libvirt_autostart: z.boolean().optional(),
  libvirt_bridge: z.string().optional(),
  libvirt_pool: z.string().optional(),
});

export const jobDefinition = z
  .looseObject({
    id: z.string().min(1),
    name: z.string(),
    vm_path: z.string().min(1), // Job.from_dict: definition_data["vm_path"]
    output_path: z.string().optional(),
    output_dir: z.string().optional(),
    options: exportOptions.optional(),
    vcenter_url: z.string().optional(),
    vcenter: vcenterConfig.optional(),
    username: z.string().optional(),
    insecure: z.boolean().optional(),
    datacenter: z.string().optional(),
    format: exportFormat.optional(),
    export_method: exportMethod.optional(),
    method: z.string().optional(),
    compress: z.boolean().optional(),
    thin: z.boolean().optional(),
    created_at: goTime,
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((def, ctx) => {
    // The original drops Password from JSON (json:"-"); a password must surface nowhere.
    const vc = def.vcenter;
    if ('password' in def || (vc && 'password' in vc))
      ctx.addIssue({ code: 'custom', message: 'a password is in the job definition' });
  });

/** models.py JobProgress.from_dict: cls(**known keys), so `phase` is required. */
export const jobProgress = z.looseObject({
  phase: z.string(),
  current_file: z.string().optional(),
  current_step: z.string().optional(),
  files_downloaded: goUint.optional(),
  total_files: goUint.optional(),
  bytes_downloaded: goUint.optional(),
  bytes_transferred: goUint.optional(),
  total_bytes: goUint.optional(),
  percent_complete: z.number().min(0).max(100).optional(),
  estimated_remaining: z.string().optional(),
  export_method: z.string().optional(),
});

/** models.py JobResult.from_dict indexes vm_name, output_dir, ovf_path, total_size, duration, success. */
export const jobResult = z.looseObject({
  vm_name: z.string(),
  output_dir: z.string(),
  ovf_path: z.string(),
  files: z.array(z.string()).optional(),
  output_files: z.array(z.string()).optional(),
  total_size: goUint,
  duration: goUint, // time.Duration: integer nanoseconds
  success: z.boolean(),
  export_method: z.string().optional(),
  error: z.string().optional(),
});

export const job = z.looseObject({
  definition: jobDefinition,
  status: jobStatus,
  progress: jobProgress.nullish(),
  result: jobResult.nullish(),
  error: z.string().nullish(),
  started_at: goTime.nullish(),
  completed_at: goTime.nullish(),
  updated_at: goTime, // Job.from_dict: data["updated_at"].replace(...)
});
export type OriginalJob = z.infer<typeof job>;

/** client.py submit_job: response["accepted"], response["job_ids"][0], errors[0] when nothing was accepted. */
export const submitResponse = z
  .looseObject({
    job_ids: z.array(z.string().min(1)),
    accepted: goUint,
    rejected: goUint,
    errors: z.array(z.string()).optional(),
    timestamp: goTime,
  })
  .superRefine((r, ctx) => {
    if (r.accepted !== r.job_ids.length)
      ctx.addIssue({ code: 'custom', message: `accepted ${r.accepted} but ${r.job_ids.length} job_ids` });
    if (r.accepted === 0 && r.errors !== undefined && r.errors.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'nothing accepted and errors is empty (the SDK reads errors[0])',
      });
    }
  });

export const queryResponse = z
  .looseObject({ jobs: z.array(job), total: goUint, timestamp: goTime })
  .refine((r) => r.total === r.jobs.length, 'total differs from the number of jobs');

/** client.py cancel_job: job_id in response["cancelled"] / ["failed"], then response["errors"].get(job_id). */
export const cancelResponse = z
  .looseObject({
    cancelled: z.array(z.string()),
    failed: z.array(z.string()),
    errors: z.record(z.string(), z.string()).optional(),
    timestamp: goTime,
  })
  .superRefine((r, ctx) => {
    for (const id of r.failed) {
      if (typeof r.errors?.[id] !== 'string')
        ctx.addIssue({ code: 'custom', message: `failed ${id} has no entry in the errors map` });
    }
  });

/** models.py DaemonStatus.from_dict indexes every key. */
export const daemonStatus = z.looseObject({
  version: z.string(),
  uptime: z.string(),
  total_jobs: goUint,
  running_jobs: goUint,
  completed_jobs: goUint,
  failed_jobs: goUint,
  cancelled_jobs: goUint,
  timestamp: goTime,
});

export const health = z.looseObject({ status: z.string().min(1), timestamp: goTime });

/** daemon/capabilities ExportCapability, keyed by method. */
export const capabilities = z.looseObject({
  capabilities: z.record(
    z.string(),
    z.looseObject({
      method: z.string(),
      available: z.boolean(),
      version: z.string(),
      path: z.string(),
      priority: goInt,
      last_checked: goTime,
    }),
  ),
  default_method: z.string(),
  timestamp: goTime,
});

/** GET /jobs/progress/{id}: client.py builds JobProgress from the WHOLE answer, so phase is top-level. */
export const progressResponse = jobProgress.extend({
  job_id: z.string(),
  status: jobStatus,
  progress: jobProgress,
  transfer_rate_mbps: z.number().min(0),
  elapsed_seconds: z.number().min(0),
  started_at: goTime.optional(),
  completed_at: goTime.optional(),
  error: z.string().optional(),
  timestamp: goTime,
});

const etaRunning = z.looseObject({
  time_remaining: goDurationString,
  time_remaining_seconds: z.number().min(0),
  elapsed: goDurationString,
  elapsed_seconds: z.number().min(0),
  percent_complete: z.number().min(0).max(100),
  transfer_rate_mbps: z.number().min(0),
  bytes_remaining: goUint,
  estimated_completion: goTime,
});
const etaMessage = z.looseObject({ message: z.string().min(1) });

/** GET /jobs/eta/{id}: client.py get_job_eta returns data.get("estimated_remaining") as the ETA string. */
export const etaResponse = z.looseObject({
  job_id: z.string(),
  status: jobStatus,
  estimated_remaining: z.union([z.literal(''), goDurationString]),
  estimated_remaining_seconds: z.number().min(0).optional(),
  eta: z.union([etaRunning, etaMessage]),
  timestamp: goTime,
});

export const logsResponse = z
  .looseObject({
    job_id: z.string(),
    logs: z.array(
      z.looseObject({
        timestamp: goTime,
        level: z.string().min(1),
        message: z.string().min(1),
        source: z.enum(['history', 'worker']),
        details: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
    log_count: goUint,
    timestamp: goTime,
  })
  .refine((r) => r.log_count === r.logs.length, 'log_count differs from the number of lines');

/** providers/vsphere VMInfo. */
export const vmInfo = z.looseObject({
  name: z.string().min(1),
  path: z.string().min(1),
  power_state: z.enum(['poweredOn', 'poweredOff', 'suspended']),
  guest_os: z.string(),
  memory_mb: goInt32,
  num_cpu: goInt32,
  storage_bytes: goUint,
});

export const vmListResponse = z
  .looseObject({ vms: z.array(vmInfo), total: goUint, timestamp: goTime })
  .refine((r) => r.total === r.vms.length, 'total differs from the number of VMs');

export const vmInfoResponse = z.looseObject({ success: z.literal(true), vm_info: vmInfo, timestamp: goTime });

export const vmOperationResponse = z.looseObject({
  success: z.boolean(),
  message: z.string().min(1),
  operation_id: z.string().min(1),
  timestamp: goTime,
});

/** Parses `value` with `schema`, failing with every issue and the value (so a failure says what is wrong). */
export function expectShape<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
  throw new Error(
    `${what} is not what the original's clients accept:\n${issues}\n${JSON.stringify(value).slice(0, 1500)}`,
  );
}
