// What a client may send to submit jobs (POST /jobs/submit, hyperexport, job files),
// as zod schemas: src/jobs/submit.ts validates with them and the gateway's
// /openapi.json documents them.
import { SINCE_SNAPSHOT } from '../core/aws-ids.js';
import { z } from 'zod';
import {
  AWS_PROFILE_PATTERN,
  AWS_PROFILE_SHAPE,
  AWS_REGION_PATTERN,
  AWS_REGION_SHAPE,
} from '../config/aws-region.js';
import { RESOURCE_GROUP, RESOURCE_GROUP_SHAPE, SUBSCRIPTION_ID, SUBSCRIPTION_SHAPE } from '../core/azure-ids.js';
import { EXPORT_METHODS, JOB_ID_PATTERN, ORIGINAL_EXPORT_METHODS } from './job-schemas.js';

/**
 * An earlier snapshot of an AWS source's disks, as an earlier export's result names
 * it (kept_snapshot: vol-…=snap-… pairs, comma-separated), or one snapshot id for a
 * one-disk source. Whether it matches the source's disks only the worker can tell.
 */
export const SINCE_SNAPSHOT_SHAPE =
  "one snapshot id (snap-…, for a one-disk source) or an earlier export's kept_snapshot: vol-…=snap-… pairs, comma-separated, no spaces";

export const jobOptionsSchema = z.object({
  parallel_downloads: z.number().int().min(1).max(32).optional(),
  remove_cdrom: z.boolean().optional(),
  snapshot: z.boolean().optional(),
  power_off: z.boolean().optional(),
  shutdown_timeout_seconds: z.number().int().min(1).max(3600).optional(),
  keep_snapshots: z
    .boolean()
    .optional()
    .meta({
      description:
        'providers aws and azure: keep the snapshots the export took (EBS snapshots; managed-disk snapshots, whose read access still ends) (default false: they are deleted at the end); the result names them',
    }),
  since_snapshot: z
    .string()
    .regex(SINCE_SNAPSHOT, `must be ${SINCE_SNAPSHOT_SHAPE}`)
    .optional()
    .meta({
      description:
        "provider aws: an incremental export. An earlier snapshot of the same disks, as an earlier export's result named it (kept_snapshot, e.g. vol-a=snap-x,vol-b=snap-y), or one snapshot id for a one-disk source: only the blocks changed since it are read, laid over that export's raw/qcow2/vhd images (or those inside its OVA) in the same output_path (a directory or s3://), which the new images replace (no overwrite needed)",
    }),
});

/**
 * Where a cloud job reads from: an AWS region (and shared-config profile), or an
 * Azure subscription and resource group. Never credentials: workers use their own
 * AWS or Azure credential chain. Each provider reads its own keys only.
 */
export const cloudSourceSchema = z
  .object({
    region: z
      .string()
      .regex(AWS_REGION_PATTERN, `must be ${AWS_REGION_SHAPE}`)
      .optional()
      .meta({
        description: "e.g. eu-west-1; default: the daemon's aws.region (AWS_REGION, AWS_DEFAULT_REGION)",
      }),
    profile: z
      .string()
      .regex(AWS_PROFILE_PATTERN, `must be ${AWS_PROFILE_SHAPE}`)
      .optional()
      .meta({
        description:
          "a profile of the worker's shared AWS config (~/.aws/config); default: the worker's default credential chain",
      }),
    subscription_id: z
      .string()
      .regex(SUBSCRIPTION_ID, `must be ${SUBSCRIPTION_SHAPE}`)
      .optional()
      .meta({ description: "provider azure: the VM's subscription; default: the one its resource id names, else the daemon's azure.subscription_id (AZURE_SUBSCRIPTION_ID)" }),
    resource_group: z
      .string()
      .regex(RESOURCE_GROUP, `must be ${RESOURCE_GROUP_SHAPE}`)
      .optional()
      .meta({ description: "provider azure: the VM's resource group when vm_path is a VM name; default: the daemon's azure.resource_group" }),
  })
  .meta({
    id: 'CloudSource',
    description:
      'provider aws: region and profile; provider azure: subscription_id and resource_group. Credentials are never sent: the worker uses its own AWS or Azure credential chain',
  });

export const vcenterSchema = z.object({
  server: z.string().min(1),
  username: z.string().min(1),
  password: z.string(),
  insecure: z.boolean().optional(),
  thumbprint: z.string().optional(),
});

export const jobDefinitionInputSchema = z
  .object({
    id: z
      .string()
      .regex(JOB_ID_PATTERN, 'must be 1-128 letters, digits, ".", "_" or "-" (no ":" or "/")')
      .optional(),
    name: z.string().max(256).optional(),
    // Temporal indexes it as a Keyword search attribute, which has a length limit.
    vm_path: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
    output_path: z.string().min(1, 'must not be empty').optional(),
    format: z.enum(['ovf', 'ova', 'vmdk', 'qcow2', 'raw', 'vhd']).optional().meta({
      description:
        'ovf or ova (the source disks as VMDK files; vmdk is taken as ovf), raw, qcow2 or vhd (KVM-ready images written by the transfer, beside an OVF descriptor; vhd: a fixed VHD, the disk then its 512-byte footer, as Azure serves a disk). Providers aws and azure: raw, qcow2 or vhd, or ovf/ova describing the VM with qcow2 disks; vmdk is refused (default qcow2, or defaults.format when it is raw, qcow2 or vhd)',
    }),
    export_method: z
      .enum([...EXPORT_METHODS, ...ORIGINAL_EXPORT_METHODS])
      .optional()
      .meta({
        description:
          'auto, ovf or datastore; the original daemon\'s "", ctl, govc, ovftool and web are taken as auto. Providers aws and azure: auto only (EBS snapshot blocks, managed-disk snapshot pages)',
      }),
    options: jobOptionsSchema.optional(),
    overwrite: z
      .boolean()
      .optional()
      .meta({
        description:
          'replace files of an earlier export with the same names, once this export has succeeded (default: refuse the job with an OutputExists error)',
      }),
    provider: z.enum(['vsphere', 'aws', 'azure'], { error: 'must be vsphere, aws or azure' }).optional().meta({
      description:
        "vsphere (default), aws or azure. With aws, vm_path is an instance id (i-...), an instance's Name tag, a volume (vol-...) or a snapshot (snap-...), and source names the region. With azure, vm_path is a VM resource id, or a VM name with source.resource_group (and source.subscription_id). For both, the vCenter fields (profile, vcenter, vcenter_url, username, password, insecure) are refused",
    }),
    source: cloudSourceSchema.optional(),
    profile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'vCenter profile of the daemon configuration (provider vsphere)' }),
    vcenter: vcenterSchema.optional(),
    // The original daemon's top-level credential fields.
    vcenter_url: z.string().min(1).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    insecure: z.boolean().optional(),
  })
  .meta({
    id: 'JobDefinitionInput',
    description: 'aliases: output_dir = output_path, method = export_method',
  });
export type JobDefinitionInput = z.infer<typeof jobDefinitionInputSchema>;

/** Fields real clients send that this server does not use: accepted with a warning. */
export const IGNORED_FIELDS = [
  'compression',
  'verify',
  'created_at',
  'updated_at',
  'status',
  'compress',
  'thin',
  'datacenter',
  'metadata',
] as const;
export const FIELD_ALIASES: Record<string, string> = { output_dir: 'output_path', method: 'export_method' };

export const submitRequestSchema = z
  .union([
    jobDefinitionInputSchema,
    z.object({ jobs: z.array(jobDefinitionInputSchema) }),
    z.array(jobDefinitionInputSchema),
  ])
  .meta({ id: 'SubmitRequest' });
