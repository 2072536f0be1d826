// The validated configuration every process (gateway, worker, CLIs) works from.
// Loaded from a YAML file plus environment (environment wins) by ./load.ts.
import type { ExportFormat, ExportMethod, ExportOptions } from '../core/export-contract.js';

export interface VsphereProfile {
  /** https://host[:port]/sdk (a bare host is completed to that form). */
  url: string;
  username: string;
  password: string;
  /** Skip certificate verification. Explicit, never the default. */
  insecure: boolean;
  /** Pin the server certificate by SHA-1 or SHA-256 thumbprint ("AA:BB:..."). */
  thumbprint?: string;
  /** Largest SOAP response read (vsphere.max_response_mib); unset: the client's 64 MiB. */
  maxResponseBytes?: number;
}

export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /**
   * Buckets exports may write to, each "bucket" (any key) or "bucket/prefix" (keys
   * under that prefix). Enforced by the gateway and by every worker. Unset or empty:
   * no S3 output is allowed.
   */
  allowedBuckets?: string[];
  /**
   * A request to S3 whose connection moves no byte for this long fails and is
   * retried (default 60 s). Without it a stalled endpoint (a dropped route, a
   * firewall that swallows packets) hung the transfer forever: its activity kept
   * heartbeating, so Temporal never timed it out. Not a file key: tests shorten it.
   */
  idleTimeoutMs?: number;
}

export interface HyperConfig {
  daemon: {
    /** host:port the gateway listens on; default localhost:8080. */
    addr: string;
    /** Required whenever addr is not a loopback address. */
    apiToken?: string;
    /** State directory: embedded Temporal database, generated keys. */
    dataDir: string;
    maxBodyBytes: number;
    // The gateway's boundary settings are optional so that configurations built in
    // code (tests, benches) need not spell them; loadConfig always fills them in.
    /** Jobs one POST /jobs/submit may carry (daemon.max_jobs_per_submit); more is a 413. */
    maxJobsPerSubmit?: number;
    /** Job ids one query or cancel may name (daemon.max_ids_per_query); more is a 400. */
    maxIdsPerQuery?: number;
    /** Host names (any port) accepted besides loopback when serving without a token. */
    allowedHosts?: string[];
    /** Browser origins (scheme://host[:port]) allowed besides the request's own. */
    allowedOrigins?: string[];
    /** PEM certificate chain and key paths: the gateway serves HTTPS when both are set. */
    tls?: { certFile: string; keyFile: string };
  };
  temporal: {
    /** host:port of a Temporal frontend; unset = start the embedded dev server. */
    address?: string;
    namespace: string;
    taskQueue: string;
    /** Port of the embedded dev server's web UI (0 = pick one). */
    uiPort: number;
    /**
     * TLS to a Temporal cluster (PEM file paths; any one set turns TLS on). Only with
     * address: the embedded dev server speaks plain gRPC on loopback.
     */
    tls?: { caCert?: string; clientCert?: string; clientKey?: string; serverName?: string };
    /** Temporal Cloud API key, sent as `authorization: Bearer`; implies TLS. A secret: never logged. */
    apiKey?: string;
  };
  vsphere: {
    profiles: Record<string, VsphereProfile>;
    defaultProfile: string;
    /**
     * host[:port] of the vCenters that inline job credentials may name; the
     * worker sends credentials nowhere else. Unset: the hosts of the profiles.
     */
    allowedHosts?: string[];
    /** Inline credentials may use http:// (password in clear) when the job also says insecure. Default false. */
    allowInsecureHttp?: boolean;
  };
  s3: S3Settings;
  /**
   * AWS sources. Optional so that configurations built in code need not spell it;
   * loadConfig always fills it in. Credentials are never here: workers use the
   * standard AWS chain (environment, ~/.aws, instance role).
   */
  aws?: {
    /** aws.region, AWS_REGION, AWS_DEFAULT_REGION: the region of AWS jobs and VM lists that name none. */
    region?: string;
  };
  /**
   * Azure sources. Optional so that configurations built in code need not spell it;
   * loadConfig always fills it in. Credentials are never here: workers use the
   * standard Azure chain (@azure/identity: environment, workload or managed identity, Azure CLI).
   */
  azure?: {
    /** azure.subscription_id, AZURE_SUBSCRIPTION_ID: the subscription of Azure jobs and VM lists that name none. */
    subscriptionId?: string;
    /** azure.resource_group: the resource group of Azure jobs that give a VM name and none. */
    resourceGroup?: string;
    /** Azure Resource Manager (sovereign clouds, private endpoints, tests); default https://management.azure.com. */
    resourceManagerEndpoint: string;
    /** PEM file of extra CA certificates the workers trust for Resource Manager (a private CA). */
    caFile?: string;
  };
  output: {
    /** Absolute, symlinks resolved. The first is where relative output paths go. */
    allowedRoots: string[];
  };
  /** Applied to submits that carry no options (hyper2kvm sends only vm_path and output_path). */
  defaults: ExportOptions & { method: ExportMethod; format: ExportFormat };
  /** 32-byte key (base64) that seals inline credentials between gateway and workers. */
  secretsKey: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  worker: {
    /** Transfer activities one worker runs at once. */
    maxConcurrentTransfers: number;
    heartbeatIntervalMs: number;
    /**
     * Stable name of this worker (worker.identity, HYPERSDK_WORKER_ID; default the
     * host name). Local exports are pinned to the task queue `<task_queue>@<identity>`,
     * so a restarted worker with the same identity picks its jobs up again.
     */
    identity: string;
    /** How long a local export waits for its worker to come back before failing with WorkerLost. */
    lostTimeoutMs: number;
    /** An NFC stream (no Range) interrupted past this many bytes is logged as a warning with the bytes lost. */
    restartWarningBytes: number;
  };
}
