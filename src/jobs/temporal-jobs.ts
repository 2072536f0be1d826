// Jobs are Temporal workflows: job id = workflow id. This store starts, finds,
// lists, describes and cancels them, and maps them to the REST job shape.
// Listing reads visibility; running jobs are described for live state; closed
// jobs are immutable, so their outcome is cached.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import {
  EXPORT_WORKFLOW_TYPE,
  PROGRESS_QUERY,
  type ExportProgress,
  type ExportResult,
  type ExportWorkflowInput,
  type TransferHeartbeat,
} from '../core/export-contract.js';
import { JobNameAttr, ProviderAttr, VmPathAttr } from '../temporal/search-attributes.js';
import type { Job, JobDefinition, JobStatus } from './job-schemas.js';
import { Limiter, mapLimit } from './concurrency.js';
import { definitionSourceFields, definitionSourceOptions, originalMethodOf } from './definition.js';
import { failureOf, type JobFailure } from './failures.js';
import { RateTracker } from './rate.js';
import { jobView, progressView } from './views.js';

export class DuplicateJobError extends Error {}

/** What the gateway stores in the workflow memo: the definition, never credentials. */
export const MEMO_DEFINITION = 'definition';

const QUERY_TIMEOUT_MS = 1_500;
/** After a progress query timed out (no worker), do not ask again for this long. */
const QUERY_BACKOFF_MS = 10_000;
const DESCRIBE_CONCURRENCY = 16;
/**
 * Describes in flight for the whole gateway, whatever the number of requests: one
 * request is already held to DESCRIBE_CONCURRENCY, and many requests together must
 * not turn into thousands of concurrent Temporal calls either.
 */
const DESCRIBES_IN_FLIGHT = 32;
const MAX_CACHED_OUTCOMES = 10_000;
/**
 * Live views of running jobs are reused for this long, and concurrent requests for
 * the same job share one describe: polling clients (hyper2kvm polls every few
 * seconds, dashboards more) then cost Temporal a bounded number of calls.
 */
const LIVE_VIEW_TTL_MS = 1_000;
/** A listing older than this is never served, not even while a refresh runs. */
const LISTING_STALE_MS = 5_000;
// PendingActivityState.PENDING_ACTIVITY_STATE_STARTED (temporal.api.enums.v1).
const ACTIVITY_STARTED = 2;

const CLOSED_STATUS: Record<string, JobStatus> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  TIMED_OUT: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'cancelled',
};

const VISIBILITY_STATUS: Record<JobStatus, string[]> = {
  pending: ['Running'],
  running: ['Running'],
  completed: ['Completed'],
  failed: ['Failed', 'TimedOut'],
  cancelled: ['Canceled', 'Terminated'],
};

interface Outcome {
  result?: ExportResult;
  error?: JobFailure;
}

export interface JobCounts {
  total: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function definitionFromInput(input: ExportWorkflowInput): JobDefinition {
  const { source } = input;
  return {
    id: input.jobId,
    name: input.jobName,
    vm_path: input.vmPath,
    output_path: input.outputPath,
    output_dir: input.outputPath,
    format: input.format,
    export_method: originalMethodOf(input.method),
    method: input.method,
    provider: source.provider,
    ...definitionSourceFields(source),
    options: {
      parallel_downloads: input.options.parallelDownloads,
      remove_cdrom: input.options.removeCdrom,
      snapshot: input.options.snapshot,
      power_off: input.options.powerOff,
      shutdown_timeout_seconds: input.options.shutdownTimeoutSeconds,
      ...definitionSourceOptions(source, input.options),
    },
    created_at: input.submittedAt,
  };
}

/**
 * Starts an export workflow the way the gateway does (memo, search attributes,
 * duplicate ids rejected even after the first run closed). Exported for CLIs that
 * start exports without the gateway.
 */
export async function startExportWorkflow(
  client: Client,
  taskQueue: string,
  input: ExportWorkflowInput,
  /** What clients will read back; the gateway's keeps the method in the client's own vocabulary. */
  definition: JobDefinition = definitionFromInput(input),
): Promise<void> {
  try {
    await client.workflow.start(EXPORT_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: input.jobId,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      memo: { [MEMO_DEFINITION]: definition },
      typedSearchAttributes: [
        { key: VmPathAttr, value: input.vmPath },
        { key: ProviderAttr, value: input.source.provider },
        { key: JobNameAttr, value: input.jobName },
      ],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new DuplicateJobError(`job id ${input.jobId} already exists`);
    throw err;
  }
}

export class TemporalJobStore {
  private readonly outcomes = new Map<string, Outcome>();
  /** Final views by job id: a closed export never changes, and ids are never reused (REJECT_DUPLICATE). */
  private readonly closedViews = new Map<string, Job>();
  private readonly liveViews = new Map<string, { at: number; view: Promise<Job | undefined>; settled: boolean; refreshing: boolean }>();
  private readonly listings = new Map<string, { at: number; infos: Promise<WorkflowExecutionInfo[]>; refreshing: boolean }>();
  /** Listings being fetched, shared by the requests that arrive meanwhile. */
  private readonly fetching = new Map<string, Promise<WorkflowExecutionInfo[]>>();
  /** Bumped by invalidateListings(): a fetch started before it is not kept. */
  private listingGeneration = 0;
  private readonly definitions = new Map<string, JobDefinition>();
  private readonly queryBackoff = new Map<string, number>();
  private readonly rates = new RateTracker();
  private readonly describes = new Limiter(DESCRIBES_IN_FLIGHT);
  private readonly baseQuery: string;

  constructor(
    readonly client: Client,
    readonly taskQueue: string,
  ) {
    this.baseQuery = `WorkflowType = ${quote(EXPORT_WORKFLOW_TYPE)} AND TaskQueue = ${quote(taskQueue)}`;
  }

  async start(input: ExportWorkflowInput, definition?: JobDefinition): Promise<void> {
    await startExportWorkflow(this.client, this.taskQueue, input, definition);
    this.liveViews.delete(input.jobId); // an earlier "no such job" must not be served
    this.invalidateListings(); // a listing served from before the submit would miss the job
  }

  /** One job by id, or undefined when no such export exists. */
  get(jobId: string): Promise<Job | undefined> {
    const closed = this.closedViews.get(jobId);
    if (closed) return Promise.resolve(closed);
    const live = this.liveViews.get(jobId);
    const age = live ? Date.now() - live.at : Infinity;
    if (live && age < LIVE_VIEW_TTL_MS) return live.view;
    // A running job's view a little past its second is still served while one
    // refresh runs in the background: no request waits for describe + query.
    if (live?.settled && age < LISTING_STALE_MS) {
      if (!live.refreshing) {
        live.refreshing = true;
        void this.refreshView(jobId).catch(() => (live.refreshing = false));
      }
      return live.view;
    }
    return this.refreshView(jobId);
  }

  private refreshView(jobId: string): Promise<Job | undefined> {
    const view = this.fetchView(jobId);
    const entry = { at: Date.now(), view, settled: false, refreshing: false };
    void view.then(
      () => {
        entry.settled = true;
        // A closed job moved to closedViews meanwhile; otherwise this is the newest view.
        if (!this.closedViews.has(jobId)) this.liveViews.set(jobId, entry);
      },
      // A failed lookup is not remembered: the next request tries again.
      () => {
        if (this.liveViews.get(jobId) === entry) this.liveViews.delete(jobId);
      },
    );
    if (!this.liveViews.get(jobId)?.settled) this.liveViews.set(jobId, entry);
    if (this.liveViews.size > MAX_CACHED_OUTCOMES) this.pruneLiveViews();
    return view;
  }

  private async fetchView(jobId: string): Promise<Job | undefined> {
    const described = await this.describe(jobId);
    if (!described || described.type !== EXPORT_WORKFLOW_TYPE || described.taskQueue !== this.taskQueue) return undefined;
    return this.view(described, described);
  }

  private pruneLiveViews(): void {
    const now = Date.now();
    for (const [id, entry] of this.liveViews) if (now - entry.at >= LIVE_VIEW_TTL_MS) this.liveViews.delete(id);
  }

  async getMany(jobIds: readonly string[]): Promise<Job[]> {
    const jobs = await mapLimit([...new Set(jobIds)], DESCRIBE_CONCURRENCY, (id) => this.get(id));
    return jobs.filter((j): j is Job => j !== undefined);
  }

  async list(filter: { statuses?: readonly JobStatus[]; limit: number }): Promise<Job[]> {
    let query = this.baseQuery;
    const wanted = filter.statuses?.length ? new Set(filter.statuses) : undefined;
    if (wanted) {
      const names = [...new Set([...wanted].flatMap((s) => VISIBILITY_STATUS[s]))];
      query += ` AND (${names.map((n) => `ExecutionStatus = ${quote(n)}`).join(' OR ')})`;
    }
    const infos = await this.visibility(query, filter.limit);
    const jobs = await mapLimit(infos, DESCRIBE_CONCURRENCY, async (info) => {
      if (info.status.name !== 'RUNNING') return this.closedViews.get(info.workflowId) ?? this.view(info, undefined);
      // Running jobs: described (or recently described) for pending/running and live progress.
      return this.get(info.workflowId);
    });
    // pending and running share a visibility status; split them here.
    return jobs.filter((j): j is Job => j !== undefined && (!wanted || wanted.has(j.status)));
  }

  /**
   * Visibility is eventually consistent anyway; sharing one listing between the
   * requests of the same second keeps list polling from saturating Temporal.
   */
  private visibility(query: string, limit: number): Promise<WorkflowExecutionInfo[]> {
    const key = `${limit}|${query}`;
    const cached = this.listings.get(key);
    const age = cached ? Date.now() - cached.at : Infinity;
    if (cached && age < LIVE_VIEW_TTL_MS) return cached.infos;
    // Stale but recent: answer from it and refresh once in the background, so no
    // request waits for a full visibility listing (that wait was the p99).
    if (cached && age < LISTING_STALE_MS) {
      if (!cached.refreshing) {
        cached.refreshing = true;
        void this.fetchListing(key, query, limit).catch(() => (cached.refreshing = false));
      }
      return cached.infos;
    }
    return this.fetchListing(key, query, limit);
  }

  private fetchListing(key: string, query: string, limit: number): Promise<WorkflowExecutionInfo[]> {
    const inFlight = this.fetching.get(key);
    if (inFlight) return inFlight;
    const generation = this.listingGeneration;
    const infos = (async () => {
      const found: WorkflowExecutionInfo[] = [];
      for await (const info of this.client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
        found.push(info);
        if (found.length >= limit) break;
      }
      return found;
    })();
    // Replace the entry only once the new listing is complete.
    const settled = infos
      .then(
        (found) => {
          if (this.listings.size > 100) this.listings.clear();
          if (generation === this.listingGeneration) {
            this.listings.set(key, { at: Date.now(), infos: Promise.resolve(found), refreshing: false });
          }
          return found;
        },
        (err: unknown) => {
          this.listings.delete(key);
          throw err;
        },
      )
      .finally(() => this.fetching.delete(key));
    this.fetching.set(key, settled);
    return settled;
  }

  /** Forget every listing, and any listing being fetched, after this gateway changed or saw a change. */
  private invalidateListings(): void {
    this.listingGeneration++;
    this.listings.clear();
    this.fetching.clear();
  }

  async cancel(jobId: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    const described = await this.describe(jobId);
    if (!described || described.type !== EXPORT_WORKFLOW_TYPE) return { ok: false, reason: `job ${jobId} not found` };
    if (described.status.name !== 'RUNNING') {
      return { ok: false, reason: `job ${jobId} is not running (${CLOSED_STATUS[described.status.name] ?? described.status.name.toLowerCase()})` };
    }
    await this.client.workflow.getHandle(jobId, described.runId).cancel();
    this.liveViews.delete(jobId);
    this.invalidateListings();
    return { ok: true };
  }

  async counts(): Promise<JobCounts> {
    const counts: JobCounts = { total: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    const grouped = await this.client.workflow.count(`${this.baseQuery} GROUP BY ExecutionStatus`);
    for (const group of grouped.groups) {
      const name = String(group.groupValues[0] ?? '');
      const status = name === 'Running' ? 'running' : CLOSED_STATUS[name.toUpperCase().replace('CANCELED', 'CANCELLED').replace('TIMEDOUT', 'TIMED_OUT')];
      if (status && status !== 'pending') counts[status] += group.count;
      counts.total += group.count;
    }
    return counts;
  }

  private async describe(jobId: string): Promise<WorkflowExecutionDescription | undefined> {
    try {
      return await this.describes.run(() => this.client.workflow.getHandle(jobId).describe());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  private async view(info: ExecutionInfo, described: WorkflowExecutionDescription | undefined): Promise<Job> {
    const definition = await this.definitionOf(info);
    const closed = CLOSED_STATUS[info.status.name];
    if (closed) {
      this.rates.forget(info.workflowId);
      const outcome = await this.outcomeOf(info);
      const elapsedSeconds = ((info.closeTime ?? new Date()).getTime() - info.startTime.getTime()) / 1000;
      const progress =
        closed === 'completed' && outcome.result
          ? progressView({ status: closed, heartbeats: [], query: undefined, elapsedSeconds })
          : undefined;
      if (progress && outcome.result) {
        progress.total_bytes = progress.bytes_downloaded = progress.bytes_transferred = outcome.result.totalSize;
        progress.total_files = progress.files_downloaded = outcome.result.files.length;
        progress.method = progress.export_method = outcome.result.method;
        progress.vm_name = outcome.result.vmName;
      }
      const job = jobView({ definition, status: closed, startedAt: info.startTime, closedAt: info.closeTime, progress, ...outcome });
      this.liveViews.delete(info.workflowId);
      // The first time this gateway sees a job closed, listings it may still serve
      // are older than what it just told a client: drop them.
      if (!this.closedViews.has(info.workflowId)) this.invalidateListings();
      remember(this.closedViews, info.workflowId, job);
      return job;
    }
    const live = described ? await this.liveState(described) : { status: 'running' as const, heartbeats: [] };
    const bytes = live.heartbeats.reduce((n, h) => n + h.bytesDone, 0);
    const rate = live.status === 'running' && bytes > 0 ? this.rates.observe(info.workflowId, bytes, info.startTime.getTime()) : undefined;
    const elapsedSeconds = (Date.now() - info.startTime.getTime()) / 1000;
    const progress = progressView({ status: live.status, query: live.query, heartbeats: live.heartbeats, rate, elapsedSeconds });
    return jobView({
      definition,
      status: live.status,
      startedAt: info.startTime,
      progress,
      progressUpdatedAt: live.query?.updatedAt,
      ...(live.query?.error ? { error: live.query.error } : {}),
    });
  }

  /** pending until a worker has picked the workflow up; running after. */
  private async liveState(d: WorkflowExecutionDescription): Promise<{ status: JobStatus; query?: ExportProgress; heartbeats: TransferHeartbeat[] }> {
    const activities = d.raw.pendingActivities ?? [];
    const heartbeats: TransferHeartbeat[] = [];
    for (const activity of activities) {
      const payloads = activity.heartbeatDetails?.payloads;
      if (!payloads?.length) continue;
      const [details] = await decodeArrayFromPayloads(this.client.options.loadedDataConverter, payloads);
      if (isHeartbeat(details)) heartbeats.push(details);
    }
    const query = d.historyLength > 2 ? await this.queryProgress(d.workflowId, d.runId) : undefined;
    const started = activities.some((a) => Number(a.state) === ACTIVITY_STARTED || (a.attempt ?? 1) > 1);
    const status: JobStatus = query ? (query.phase === 'pending' && !started ? 'pending' : 'running') : started || d.historyLength > 3 ? 'running' : 'pending';
    return { status, ...(query ? { query } : {}), heartbeats };
  }

  private async queryProgress(workflowId: string, runId: string): Promise<ExportProgress | undefined> {
    const until = this.queryBackoff.get(workflowId);
    if (until !== undefined && until > Date.now()) return undefined;
    try {
      const handle = this.client.workflow.getHandle(workflowId, runId);
      const progress = await this.client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query<ExportProgress>(PROGRESS_QUERY));
      this.queryBackoff.delete(workflowId);
      return progress;
    } catch {
      // No worker answering (or an older workflow without the query): fall back to describe.
      this.queryBackoff.set(workflowId, Date.now() + QUERY_BACKOFF_MS);
      if (this.queryBackoff.size > MAX_CACHED_OUTCOMES) this.queryBackoff.clear();
      return undefined;
    }
  }

  private async definitionOf(info: ExecutionInfo): Promise<JobDefinition> {
    const fromMemo = info.memo?.[MEMO_DEFINITION] as JobDefinition | undefined;
    if (fromMemo) return fromMemo;
    const cached = this.definitions.get(info.runId);
    if (cached) return cached;
    // Started without the gateway's memo: read the input from the first history event.
    const history = await this.client.workflowService.getWorkflowExecutionHistory({
      namespace: this.client.options.namespace,
      execution: { workflowId: info.workflowId, runId: info.runId },
      maximumPageSize: 1,
    });
    const payloads = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    const [input] = await decodeArrayFromPayloads(this.client.options.loadedDataConverter, payloads);
    const definition = definitionFromInput(input as ExportWorkflowInput);
    remember(this.definitions, info.runId, definition);
    return definition;
  }

  private async outcomeOf(info: ExecutionInfo): Promise<Outcome> {
    const cached = this.outcomes.get(info.runId);
    if (cached) return cached;
    let outcome: Outcome;
    try {
      const result: unknown = await this.client.workflow.getHandle(info.workflowId, info.runId).result();
      outcome = { result: result as ExportResult };
    } catch (err) {
      outcome = { error: failureOf(err) };
    }
    remember(this.outcomes, info.runId, outcome);
    return outcome;
  }
}

/** The fields of a visibility entry and a describe() answer that views need. */
type ExecutionInfo = Omit<WorkflowExecutionInfo, 'raw'>;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MAX_CACHED_OUTCOMES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

function isHeartbeat(value: unknown): value is TransferHeartbeat {
  const v = value as TransferHeartbeat | null;
  return v !== null && typeof v === 'object' && typeof v.diskKey === 'number' && typeof v.bytesDone === 'number';
}
