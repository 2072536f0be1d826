// The configuration file's schema (snake_case YAML), validated with zod. Every
// field is optional here: defaults are applied when building HyperConfig, so that
// "missing" and "wrong" stay distinguishable in error messages.
import { z } from 'zod';
import { RESOURCE_GROUP, RESOURCE_GROUP_SHAPE, SUBSCRIPTION_ID, SUBSCRIPTION_SHAPE } from '../core/azure-ids.js';

const port = z.number().int().min(0).max(65535);

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/**
 * A log level in any case (LogLevel: INFO), with the other spellings the original
 * daemon (warning) and hyper2kvm's Python logging (WARNING, CRITICAL) use.
 */
export function normaliseLogLevel(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const level = value.trim().toLowerCase();
  if (level === 'warning') return 'warn';
  if (level === 'critical' || level === 'fatal') return 'error';
  return level;
}

export function isLogLevel(value: unknown): value is LogLevelName {
  return (LOG_LEVELS as readonly unknown[]).includes(normaliseLogLevel(value));
}

const logLevel = z.preprocess(normaliseLogLevel, z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')} (any case)` }));
const nonEmpty = z.string().min(1, 'must not be empty');

/**
 * A worker's stable name. It becomes part of a task queue name
 * (`<task_queue>@<identity>`) that local exports are pinned to, so it must survive
 * restarts and stay readable in logs and in the Temporal UI.
 */
export const workerIdentity = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  // \S* rather than \S+: an empty value is min(1)'s to report, once.
  .regex(/^\S*$/, 'must not contain whitespace');

export const profileSchema = z.object({
  url: nonEmpty,
  username: z.string().optional(),
  password: z.string().optional(),
  insecure: z.boolean().optional(),
  thumbprint: z
    .string()
    .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19,31}$/, 'must be a SHA-1 or SHA-256 thumbprint like "AA:BB:..."')
    .optional(),
});

export const fileSchema = z.object({
  daemon: z
    .object({
      addr: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, 'must be host:port, e.g. localhost:8080')
        .optional(),
      api_token: z.string().min(16, 'must be at least 16 characters').optional(),
      data_dir: nonEmpty.optional(),
      max_body_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).optional(),
      max_jobs_per_submit: z.number().int().min(1).max(10_000).optional(),
      max_ids_per_query: z.number().int().min(1).max(100_000).optional(),
      allowed_hosts: z.array(z.string().regex(/^([A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])$/, 'must be a host name or IP address without port or scheme, e.g. exports.lan')).optional(),
      allowed_origins: z
        .array(z.string().regex(/^https?:\/\/[^/\s?#]+$/, 'must be an origin: scheme://host[:port], e.g. https://ui.example:8443, without a path'))
        .optional(),
      tls_cert: nonEmpty.optional(),
      tls_key: nonEmpty.optional(),
    })
    .optional(),
  temporal: z
    .object({
      address: nonEmpty.optional(),
      namespace: nonEmpty.optional(),
      task_queue: nonEmpty.optional(),
      ui_port: port.optional(),
      tls: z
        .object({
          ca_cert: nonEmpty.optional(),
          client_cert: nonEmpty.optional(),
          client_key: nonEmpty.optional(),
          server_name: nonEmpty.optional(),
        })
        .optional(),
      api_key: nonEmpty.optional(),
    })
    .optional(),
  vsphere: z
    .object({
      default_profile: nonEmpty.optional(),
      profiles: z.record(z.string(), profileSchema).optional(),
      /** Largest SOAP response read from vCenter, in MiB (default 64). */
      max_response_mib: z.number().int().min(1).max(4096).optional(),
      allowed_hosts: z.array(nonEmpty.regex(/^(\[[0-9a-fA-F:.]+\]|[^\s/:@[\]]+)(:\d{1,5})?$/, 'must be host or host:port')).optional(),
      allow_insecure_http: z.boolean().optional(),
    })
    .optional(),
  s3: z
    .object({
      endpoint: z.url().optional(),
      region: nonEmpty.optional(),
      access_key_id: z.string().optional(),
      secret_access_key: z.string().optional(),
      force_path_style: z.boolean().optional(),
      allowed_buckets: z.array(nonEmpty.regex(/^[^\s/]+(\/\S*)?$/, 'must be "bucket" or "bucket/prefix"')).optional(),
    })
    .optional(),
  aws: z
    .object({
      // Shape checked by loadConfig: a malformed AWS_REGION (set for an S3 endpoint) is a warning, not a refusal to start.
      region: nonEmpty.optional(),
    })
    .optional(),
  azure: z
    .object({
      subscription_id: z.string().regex(SUBSCRIPTION_ID, `must be ${SUBSCRIPTION_SHAPE}`).optional(),
      resource_group: z.string().regex(RESOURCE_GROUP, `must be ${RESOURCE_GROUP_SHAPE}`).optional(),
      resource_manager_endpoint: z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).optional(),
      ca_file: nonEmpty.optional(),
    })
    .optional(),
  output: z
    .object({
      allowed_roots: z.array(nonEmpty).min(1).optional(),
    })
    .optional(),
  defaults: z
    .object({
      method: z.enum(['auto', 'ovf', 'datastore']).optional(),
      format: z.enum(['ovf', 'ova', 'raw', 'qcow2', 'vhd']).optional(),
      parallel_downloads: z.number().int().min(1).max(32).optional(),
      remove_cdrom: z.boolean().optional(),
      snapshot: z.boolean().optional(),
      power_off: z.boolean().optional(),
      shutdown_timeout_seconds: z.number().int().min(1).max(3600).optional(),
    })
    .optional(),
  secrets_key: z
    .string()
    .refine((s) => Buffer.from(s, 'base64').length === 32, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)')
    .optional(),
  log_level: logLevel.optional(),
  worker: z
    .object({
      max_concurrent_transfers: z.number().int().min(1).max(256).optional(),
      heartbeat_interval_ms: z.number().int().min(100).max(60_000).optional(),
      identity: workerIdentity.optional(),
      lost_timeout_seconds: z.number().int().min(1).max(7 * 24 * 3600).optional(),
      restart_warning_mib: z.number().int().min(0).max(1 << 30).optional(),
    })
    .optional(),
});

export type FileConfig = z.infer<typeof fileSchema>;
