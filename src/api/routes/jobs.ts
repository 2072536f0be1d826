// /jobs/*: submit, query, get, cancel, progress. Every answer has the contract's
// shape; every refusal is an HttpError naming the field.
import { Hono } from 'hono';
import { DEFAULTS } from '../../config/load.js';
import type { HyperConfig } from '../../config/types.js';
import { readBody } from '../body.js';
import { badRequest, HttpError, notFound, now } from '../http-error.js';
import { DuplicateJobError, type TemporalJobStore } from '../../jobs/temporal-jobs.js';
import { etaAnswer, progressAnswer } from '../../jobs/answers.js';
import { jobLogs } from '../../jobs/logs.js';
import type { GatewayMetrics } from '../metrics.js';
import { JOB_ID_PATTERN, JOB_STATUSES, type Job, type JobStatus } from '../../jobs/job-schemas.js';
import { cancelRequestSchema, queryRequestSchema } from '../schemas.js';
import { prepareSubmit, splitSubmitBody } from '../../jobs/submit.js';

const DEFAULT_LIMIT = 1000;

function asList(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : value.split(',')).map((s) => s.trim()).filter(Boolean);
}

function parseStatuses(value: string | string[] | undefined): JobStatus[] | undefined {
  const list = asList(value)?.map((s) => (s === 'canceled' ? 'cancelled' : s.toLowerCase()));
  if (!list) return undefined;
  for (const s of list) {
    if (!(JOB_STATUSES as readonly string[]).includes(s)) throw badRequest('status', `unknown status "${s}" (use ${JOB_STATUSES.join(', ')})`);
  }
  return list as JobStatus[];
}

/** ?tail=N: the last N lines. */
function parseTail(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw badRequest('tail', 'must be an integer between 1 and 100000');
  return n;
}

function validJobId(id: string, field: string): string {
  if (!JOB_ID_PATTERN.test(id)) throw badRequest(field, `"${id}" is not a valid job id`);
  return id;
}

/** Validates with zod and turns the first issue into a 400 naming the field. */
function parseWith<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw badRequest(issue.path.map(String).join('.') || 'body', issue.message);
}

/**
 * The JSON of the last job list answered. Clients poll the same listing many times
 * a second and the store hands out the same (immutable) job views until something
 * changes, so the list is serialised once per change instead of once per request:
 * with 500 jobs that serialisation was most of a query's time (bench/api.ts).
 */
class ListingJson {
  private jobs: readonly Job[] = [];
  private json = '[]';

  of(jobs: readonly Job[]): string {
    if (jobs.length !== this.jobs.length || jobs.some((job, i) => job !== this.jobs[i])) {
      this.json = JSON.stringify(jobs);
      this.jobs = jobs;
    }
    return this.json;
  }
}

/** Jobs a submit body carries (1 for a single job; an unusable body is left to prepareSubmit). */
function jobCount(body: unknown): number {
  try {
    return splitSubmitBody(body).items.length;
  } catch {
    return 1;
  }
}

/** Refuses more job ids than daemon.max_ids_per_query before any Temporal call is made. */
function capIds(ids: string[] | undefined, max: number): string[] | undefined {
  if (ids && ids.length > max) {
    throw badRequest('job_ids', `${ids.length} job ids in one request, more than the limit of ${max} (daemon.max_ids_per_query); split the request`, {
      limit: max,
      config_key: 'daemon.max_ids_per_query',
    });
  }
  return ids && [...new Set(ids)];
}

export function jobRoutes(config: HyperConfig, store: TemporalJobStore, metrics: GatewayMetrics): Hono {
  const app = new Hono();
  const listingJson = new ListingJson();
  const maxJobsPerSubmit = config.daemon.maxJobsPerSubmit ?? DEFAULTS.maxJobsPerSubmit;
  const maxIdsPerQuery = config.daemon.maxIdsPerQuery ?? DEFAULTS.maxIdsPerQuery;

  app.post('/submit', async (c) => {
    const body = await readBody(c);
    if (body === undefined) throw badRequest('body', 'empty; send a job (vm_path, output_path) as JSON or YAML');
    if (typeof body !== 'object' || body === null) throw badRequest('body', 'must be a job object, {jobs: [...]} or a list of jobs');
    const count = jobCount(body);
    if (count > maxJobsPerSubmit) {
      throw new HttpError(
        413,
        `jobs: ${count} jobs in one submit, more than the limit of ${maxJobsPerSubmit} (daemon.max_jobs_per_submit); submit them in batches`,
        { field: 'jobs', limit: maxJobsPerSubmit, config_key: 'daemon.max_jobs_per_submit' },
      );
    }
    const prepared = await prepareSubmit(config, body);
    const jobIds: string[] = [];
    const errors = [...prepared.errors];
    let rejected = prepared.rejected;
    for (const job of prepared.jobs) {
      try {
        await store.start(job.input, job.definition);
        jobIds.push(job.input.jobId);
      } catch (err) {
        if (!(err instanceof DuplicateJobError)) throw err;
        errors.push(`id: ${err.message}`);
        rejected++;
      }
    }
    metrics.jobsSubmitted.inc({ result: 'accepted' }, jobIds.length);
    metrics.jobsSubmitted.inc({ result: 'rejected' }, rejected);
    // 200 even when nothing was accepted: the original daemon's clients read
    // `accepted` and `errors`, and treat any other status as a transport failure.
    return c.json(
      {
        job_ids: jobIds,
        accepted: jobIds.length,
        rejected,
        ...(errors.length ? { errors } : {}),
        ...(prepared.warnings.length ? { warnings: prepared.warnings } : {}),
        timestamp: now(),
      },
      200,
    );
  });

  const query = async (request: { job_ids?: string | string[]; status?: string | string[]; all?: boolean; limit?: number }) => {
    const ids = capIds(asList(request.job_ids), maxIdsPerQuery)?.map((id) => validJobId(id, 'job_ids'));
    const statuses = parseStatuses(request.status);
    const limit = request.limit ?? DEFAULT_LIMIT;
    let jobs = ids ? await store.getMany(ids) : await store.list({ statuses, limit });
    if (ids && statuses) jobs = jobs.filter((j) => statuses.includes(j.status));
    return jobs.slice(0, limit);
  };
  /** {jobs, total, timestamp}, as the contract orders it, around the memoised job list. */
  const queryResponse = (jobs: Job[]): Response =>
    new Response(`{"jobs":${listingJson.of(jobs)},"total":${jobs.length},"timestamp":${JSON.stringify(now())}}`, {
      headers: { 'content-type': 'application/json' },
    });

  app.post('/query', async (c) => {
    const body = (await readBody(c)) ?? {};
    return queryResponse(await query(parseWith(queryRequestSchema, body)));
  });

  app.get('/query', async (c) => {
    const q = c.req.query();
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 10_000)) throw badRequest('limit', 'must be an integer between 1 and 10000');
    if (q.all !== undefined && !['true', 'false', '1', '0', ''].includes(q.all)) throw badRequest('all', 'must be true or false');
    return queryResponse(await query({ job_ids: q.job_ids ?? q.id, status: q.status, limit }));
  });

  app.post('/cancel', async (c) => {
    const body = (await readBody(c)) ?? {};
    const request = parseWith(cancelRequestSchema, body);
    const ids = capIds(asList(request.job_ids), maxIdsPerQuery) ?? [];
    if (ids.length === 0) throw badRequest('job_ids', 'give at least one job id');
    const cancelled: string[] = [];
    const failed: string[] = [];
    // A map by job id, as the original daemon's clients index it (a Map first: an id
    // such as "__proto__" must become a key, not a prototype).
    const errors = new Map<string, string>();
    for (const id of ids) {
      const outcome = JOB_ID_PATTERN.test(id) ? await store.cancel(id) : { ok: false as const, reason: `job ${id} not found` };
      if (outcome.ok) cancelled.push(id);
      else {
        failed.push(id);
        errors.set(id, outcome.reason);
      }
    }
    metrics.jobsCancelled.inc(cancelled.length);
    return c.json({ cancelled, failed, ...(errors.size ? { errors: Object.fromEntries(errors) } : {}), timestamp: now() });
  });

  /** The job the path names: 404 when the id is malformed or unknown. */
  const jobOf = async (id: string): Promise<Job> => {
    const job = JOB_ID_PATTERN.test(id) ? await store.get(id) : undefined;
    if (!job) throw notFound(`job ${id} not found`);
    return job;
  };

  app.get('/progress/:id', async (c) => {
    const id = c.req.param('id');
    return c.json(progressAnswer(id, await jobOf(id)));
  });

  app.get('/eta/:id', async (c) => {
    const id = c.req.param('id');
    return c.json(etaAnswer(id, await jobOf(id)));
  });

  app.get('/logs/:id', async (c) => {
    const id = c.req.param('id');
    const tail = parseTail(c.req.query('tail'));
    await jobOf(id);
    const logs = await jobLogs(store.client, config.daemon.dataDir, id);
    const kept = tail === undefined ? logs : logs.slice(-tail);
    return c.json({ job_id: id, logs: kept, log_count: kept.length, timestamp: now() });
  });

  app.get('/:id', async (c) => c.json(await jobOf(c.req.param('id'))));

  return app;
}
