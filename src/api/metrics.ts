// Prometheus metrics. One registry per app, so several gateways (tests) can live
// in one process without clashing on the global registry.
import type { MiddlewareHandler } from 'hono';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export interface GatewayMetrics {
  registry: Registry;
  middleware: MiddlewareHandler;
  jobsSubmitted: Counter<'result'>;
  jobsCancelled: Counter;
}

export function createMetrics(options: { processMetrics: boolean }): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'hypersdk_' });
  const requests = new Counter({
    name: 'hypersdk_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'hypersdk_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const jobsSubmitted = new Counter({
    name: 'hypersdk_jobs_submitted_total',
    help: 'Export jobs submitted, by result (accepted/rejected)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const jobsCancelled = new Counter({ name: 'hypersdk_jobs_cancelled_total', help: 'Cancellations requested', registers: [registry] });
  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    await next();
    // The route pattern, not the path: job ids must not become label values.
    const route = c.req.routePath || 'unmatched';
    requests.inc({ method: c.req.method, route, status: String(c.res.status) });
    duration.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
  };
  return { registry, middleware, jobsSubmitted, jobsCancelled };
}
