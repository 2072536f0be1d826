// The REST contract as zod schemas: requests are validated with them, response
// types are inferred from them, and /openapi.json is generated from them.
import { z } from 'zod';
import { JOB_STATUSES, jobLogLineSchema, jobProgressSchema, jobSchema } from '../jobs/job-schemas.js';
import { vcenterSchema } from '../jobs/submit-schemas.js';

export const submitResponseSchema = z
  .object({
    job_ids: z.array(z.string()),
    accepted: z.number().int(),
    rejected: z.number().int(),
    errors: z.array(z.string()).optional(),
    warnings: z.array(z.string()).optional(),
    timestamp: z.string(),
  })
  .meta({ id: 'SubmitResponse' });

const stringList = z.union([z.array(z.string()), z.string()]);

export const queryRequestSchema = z
  .object({
    job_ids: stringList.optional(),
    status: stringList.optional(),
    all: z.boolean().optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  })
  .meta({ id: 'QueryRequest' });

export const queryResponseSchema = z
  .object({ jobs: z.array(jobSchema), total: z.number().int(), timestamp: z.string() })
  .meta({ id: 'QueryResponse' });

export const cancelRequestSchema = z.object({ job_ids: stringList }).meta({ id: 'CancelRequest' });
export const cancelResponseSchema = z
  .object({
    cancelled: z.array(z.string()),
    failed: z.array(z.string()),
    errors: z.record(z.string(), z.string()).optional().meta({ description: 'why each failed job could not be cancelled, by job id; absent when none failed' }),
    timestamp: z.string(),
  })
  .meta({ id: 'CancelResponse' });

export const progressResponseSchema = jobProgressSchema
  .extend({
    job_id: z.string(),
    status: z.enum(JOB_STATUSES),
    progress: jobProgressSchema,
    started_at: z.string().optional(),
    completed_at: z.string().optional(),
    error: z.string().optional(),
    timestamp: z.string(),
  })
  .meta({ id: 'ProgressResponse', description: 'every key of progress is also at the top level (the original SDKs read them there)' });

export const etaResponseSchema = z
  .object({
    job_id: z.string(),
    status: z.enum(JOB_STATUSES),
    estimated_remaining: z.string().meta({ description: 'Go duration string; empty when unknown' }),
    estimated_remaining_seconds: z.number().optional(),
    eta: z.object({
      time_remaining: z.string().optional(),
      time_remaining_seconds: z.number().optional(),
      elapsed: z.string(),
      elapsed_seconds: z.number(),
      percent_complete: z.number(),
      transfer_rate_mbps: z.number().optional(),
      bytes_remaining: z.number().optional(),
      estimated_completion: z.string().optional(),
      total_duration: z.string().optional(),
      message: z.string().optional().meta({ description: 'when there is no estimate: why' }),
    }),
    timestamp: z.string(),
  })
  .meta({ id: 'EtaResponse' });

export const logsResponseSchema = z
  .object({ job_id: z.string(), logs: z.array(jobLogLineSchema), log_count: z.number().int(), timestamp: z.string() })
  .meta({ id: 'JobLogs' });

export const capabilitiesResponseSchema = z
  .object({
    capabilities: z.record(
      z.string(),
      z.object({ method: z.string(), available: z.boolean(), version: z.string(), path: z.string(), priority: z.number().int(), last_checked: z.string() }),
    ),
    default_method: z.string(),
    timestamp: z.string(),
  })
  .meta({ id: 'Capabilities' });

export const healthResponseSchema = z.object({ status: z.literal('healthy'), timestamp: z.string() }).meta({ id: 'Health' });

export const statusResponseSchema = z
  .object({
    version: z.string(),
    uptime: z.string().meta({ description: 'Go duration string' }),
    uptime_seconds: z.number(),
    total_jobs: z.number().int(),
    pending_jobs: z.number().int(),
    running_jobs: z.number().int(),
    completed_jobs: z.number().int(),
    failed_jobs: z.number().int(),
    cancelled_jobs: z.number().int(),
    temporal: z.object({ address: z.string(), namespace: z.string(), task_queue: z.string(), reachable: z.boolean() }),
    timestamp: z.string(),
  })
  .meta({ id: 'Status' });

export const vmSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    path: z.string(),
    power_state: z.string(),
    guest_os: z.string(),
    guest_id: z.string(),
    memory_mb: z.number(),
    num_cpu: z.number(),
    storage_bytes: z.number(),
  })
  .meta({ id: 'VmSummary' });

export const vmListResponseSchema = z
  .object({ vms: z.array(vmSummarySchema), total: z.number().int(), timestamp: z.string() })
  .meta({ id: 'VmList' });

/** One VM with the keys of the original daemon's VMInfo (its /vms/info `vm_info`). */
export const vmInfoOriginalSchema = z
  .object({
    name: z.string(),
    path: z.string(),
    power_state: z.string(),
    guest_os: z.string(),
    memory_mb: z.number(),
    num_cpu: z.number(),
    storage_bytes: z.number(),
  })
  .meta({ id: 'VmInfoOriginal' });

export const vmInfoResponseSchema = z
  .object({ success: z.literal(true), vm_info: vmInfoOriginalSchema, vm: z.record(z.string(), z.unknown()), timestamp: z.string() })
  .meta({ id: 'VmInfo' });

export const errorResponseSchema = z
  .object({ error: z.string(), field: z.string().optional(), timestamp: z.string() })
  .meta({ id: 'Error' });

// ---- /vms requests as the original's clients send them ------------------------------

const providerField = z
  .enum(['vsphere', 'aws', 'azure'], { error: 'must be vsphere, aws or azure' })
  .optional()
  .meta({ description: 'vsphere (default), aws or azure' });
const subscriptionField = z
  .string()
  .optional()
  .meta({ description: "provider azure: the subscription id (default: the one a VM resource id names, else the daemon's azure.subscription_id, AZURE_SUBSCRIPTION_ID)" });
const resourceGroupField = z
  .string()
  .optional()
  .meta({ description: "provider azure: the resource group of a VM given by name, and of the VMs listed (default: the daemon's azure.resource_group; a list without one covers the subscription)" });
const regionField = z
  .string()
  .optional()
  .meta({ description: "provider aws: the region, e.g. eu-west-1 (default: the daemon's aws.region, AWS_REGION)" });
const profileField = z
  .string()
  .min(1)
  .optional()
  .meta({ description: "provider vsphere: a vCenter profile of the daemon's configuration; provider aws: a profile of the daemon's shared AWS config (default: its AWS credential chain)" });

/**
 * POST /vms/info, /vms/shutdown, /vms/poweroff, /vms/remove-cdrom (the original's
 * VMOperationRequest; its Python SDK adds `vcenter`). Provider aws: /vms/info only.
 */
export const vmRequestSchema = z
  .object({
    vm_path: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
    /** Seconds; 0 or absent: 300 (the original's default). */
    timeout: z.number().int('must be a whole number of seconds').min(0, 'must not be negative').max(3600, 'must be at most 3600 seconds').optional(),
    provider: providerField,
    region: regionField,
    profile: profileField,
    subscription_id: subscriptionField,
    resource_group: resourceGroupField,
    vcenter: vcenterSchema.optional(),
  })
  .meta({ id: 'VmRequest' });

/**
 * POST /vms/list: a profile, the Python SDK's vCenter config as the body itself, or
 * under `vcenter`; or provider aws with a region (and a shared-config profile).
 */
export const vmListRequestSchema = z
  .object({
    provider: providerField,
    region: regionField,
    profile: profileField,
    subscription_id: subscriptionField,
    resource_group: resourceGroupField,
    vcenter: vcenterSchema.optional(),
    server: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    insecure: z.boolean().optional(),
  })
  .meta({ id: 'VmListRequest' });

export const vmOperationResponseSchema = z
  .object({
    success: z.boolean(),
    message: z.string(),
    /** The workflow id (`vmop-<op>-<uuid>`): the operation's record in Temporal history. */
    operation_id: z.string(),
    operation: z.enum(['shutdown', 'poweroff', 'remove-cdrom']),
    vm_path: z.string(),
    vm_name: z.string(),
    /** false: the VM already was as asked. */
    changed: z.boolean(),
    power_state: z.string(),
    removed_cdroms: z.array(z.string()).optional(),
    timestamp: z.string(),
  })
  .meta({ id: 'VmOperationResult' });
