// The Hono application: routes of the REST contract, auth, size limit, metrics,
// and the single error mapping. Built from its dependencies so that tests run it
// in-process with app.request() and hypervisord serves it next to a worker.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { isLoopbackAddr, tokenAuth } from './auth.js';
import { jsonOrYamlBodies, requestBoundary } from './boundary.js';
import type { GatewayDeps } from './deps.js';
import { errorHandler, HttpError, now, type Logger } from './http-error.js';
import { goDuration } from '../jobs/durations.js';
import { TemporalJobStore } from '../jobs/temporal-jobs.js';
import { capabilities } from './capabilities.js';
import { createMetrics } from './metrics.js';
import { buildOpenApiDocument } from './openapi.js';
import { jobRoutes } from './routes/jobs.js';
import { ProviderCache, vmRoutes } from './routes/vms.js';
import { awsProviderCache, azureProviderCache, connectAzureLazily } from './cloud-providers.js';
import { VERSION } from './version.js';

export interface GatewayApp {
  app: Hono;
  /** Releases what the app holds (vCenter sessions, AWS providers). */
  close: () => Promise<void>;
}

export const silentLogger: Logger = () => undefined;

export function createApp(deps: GatewayDeps): GatewayApp {
  const { config } = deps;
  const log = deps.logger ?? silentLogger;
  if (!config.daemon.apiToken && !isLoopbackAddr(config.daemon.addr)) {
    throw new Error(`daemon.addr ${config.daemon.addr} is not a loopback address: set HYPERSDK_API_TOKEN (daemon.api_token) to require a token`);
  }
  const store = new TemporalJobStore(deps.temporalClient, config.temporal.taskQueue);
  const providers = new ProviderCache(deps.providerFactory);
  const awsProviders = awsProviderCache(deps.awsProviderFactory);
  const azureProviders = azureProviderCache(deps.azureProviderFactory ?? connectAzureLazily(config));
  const metrics = createMetrics({ processMetrics: deps.processMetrics ?? false });
  const openapi = buildOpenApiDocument(VERSION);

  const app = new Hono();
  app.onError(errorHandler(log));
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}`, timestamp: now() }, 404));
  app.use(metrics.middleware);
  // Host and Origin first: a cross-site or rebound request gets nothing, not even a 401.
  app.use(
    requestBoundary({
      token: config.daemon.apiToken !== undefined,
      allowedHosts: config.daemon.allowedHosts ?? [],
      allowedOrigins: config.daemon.allowedOrigins ?? [],
    }),
  );
  app.use(tokenAuth(config.daemon.apiToken, new Set(['/health'])));
  app.use(
    bodyLimit({
      maxSize: config.daemon.maxBodyBytes,
      onError: () => {
        throw new HttpError(413, `body: larger than the limit of ${config.daemon.maxBodyBytes} bytes`, { field: 'body' });
      },
    }),
  );
  app.use(jsonOrYamlBodies());

  app.get('/health', (c) => c.json({ status: 'healthy' as const, timestamp: now() }));

  app.get('/status', async (c) => {
    const uptimeSeconds = (Date.now() - deps.startedAt.getTime()) / 1000;
    let counts = { total: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    let reachable = true;
    try {
      counts = await store.counts();
    } catch (err) {
      // The daemon still answers; the counts say Temporal is away.
      reachable = false;
      log('warn', 'status: cannot count jobs', { message: (err as Error).message });
    }
    return c.json({
      version: VERSION,
      uptime: goDuration(uptimeSeconds),
      uptime_seconds: Math.round(uptimeSeconds),
      total_jobs: counts.total,
      running_jobs: counts.running,
      completed_jobs: counts.completed,
      failed_jobs: counts.failed,
      cancelled_jobs: counts.cancelled,
      temporal: {
        address: config.temporal.address ?? 'embedded',
        namespace: config.temporal.namespace,
        task_queue: config.temporal.taskQueue,
        reachable,
      },
      timestamp: now(),
    });
  });

  app.get('/capabilities', (c) => c.json(capabilities(config.defaults.method, deps.startedAt)));

  app.route('/jobs', jobRoutes(config, store, metrics));
  app.route('/vms', vmRoutes(config, providers, { aws: awsProviders, azure: azureProviders }, deps.temporalClient));
  app.get('/openapi.json', (c) => c.json(openapi));
  app.get('/metrics', async (c) => c.text(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

  return {
    app,
    close: async () => {
      await Promise.all([providers.close(), awsProviders.close(), azureProviders.close()]);
    },
  };
}
