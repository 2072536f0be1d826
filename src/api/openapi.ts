// /openapi.json, generated from the same zod schemas that validate requests.
import { z } from 'zod';
import { jobSchema } from '../jobs/job-schemas.js';
import * as s from './schemas.js';
import { submitRequestSchema } from '../jobs/submit-schemas.js';

type Schema = z.ZodType;

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  body?: Schema;
  response: Schema;
  params?: string[];
  query?: { name: string; description: string; schema: Record<string, unknown> }[];
  errors?: number[];
}

const operations: Operation[] = [
  { method: 'get', path: '/health', summary: 'Liveness (no authentication)', response: s.healthResponseSchema },
  { method: 'get', path: '/status', summary: 'Version, uptime and job counts', response: s.statusResponseSchema },
  { method: 'post', path: '/jobs/submit', summary: 'Submit one job, {jobs:[...]} or an array (JSON or YAML)', body: submitRequestSchema, response: s.submitResponseSchema, errors: [400, 413] },
  { method: 'post', path: '/jobs/query', summary: 'Query jobs by id, status, or all', body: s.queryRequestSchema, response: s.queryResponseSchema, errors: [400] },
  { method: 'get', path: '/jobs/query', summary: 'Query jobs (?job_ids=a,b&status=running&all=true&limit=n)', response: s.queryResponseSchema, errors: [400] },
  { method: 'get', path: '/jobs/{id}', summary: 'One job', params: ['id'], response: jobSchema, errors: [404] },
  { method: 'post', path: '/jobs/cancel', summary: 'Cancel jobs', body: s.cancelRequestSchema, response: s.cancelResponseSchema, errors: [400] },
  { method: 'get', path: '/jobs/progress/{id}', summary: 'Progress of one job', params: ['id'], response: s.progressResponseSchema, errors: [404] },
  { method: 'get', path: '/jobs/eta/{id}', summary: 'Estimated time remaining of one job, from its live transfer rate', params: ['id'], response: s.etaResponseSchema, errors: [404] },
  {
    method: 'get',
    path: '/jobs/logs/{id}',
    summary: 'What happened to one job: its workflow history and the worker\'s log lines for it (?tail=N keeps the last N)',
    params: ['id'],
    query: [{ name: 'tail', description: 'keep the last N lines (1-100000)', schema: { type: 'integer', minimum: 1, maximum: 100_000 } }],
    response: s.logsResponseSchema,
    errors: [400, 404],
  },
  { method: 'get', path: '/capabilities', summary: 'Export methods this server has, and the default', response: s.capabilitiesResponseSchema },
  {
    method: 'get',
    path: '/vms/list',
    summary: 'VMs of the vCenter (?profile=name), or the EC2 instances of an AWS region (?provider=aws&region=eu-west-1, path /<region>/<instance id>)',
    query: [
      { name: 'provider', description: 'vsphere (default) or aws', schema: { type: 'string', enum: ['vsphere', 'aws'] } },
      { name: 'region', description: "provider aws: the region (default: the daemon's aws.region, AWS_REGION)", schema: { type: 'string' } },
      { name: 'profile', description: "provider vsphere: a vCenter profile; provider aws: a profile of the daemon's shared AWS config", schema: { type: 'string' } },
    ],
    response: s.vmListResponseSchema,
    errors: [400, 502],
  },
  { method: 'post', path: '/vms/list', summary: 'VMs of the vCenter named by the body (profile, or the vCenter config), or with provider aws the instances of a region', body: s.vmListRequestSchema, response: s.vmListResponseSchema, errors: [400, 502] },
  { method: 'post', path: '/vms/info', summary: 'One VM (provider aws: an instance, volume or snapshot): vm_info (the original\'s keys) and vm (full description)', body: s.vmRequestSchema, response: s.vmInfoResponseSchema, errors: [400, 404, 502] },
  { method: 'post', path: '/vms/shutdown', summary: 'Guest shutdown (needs VMware Tools), waiting until powered off (a workflow vmop-shutdown-<uuid>); vSphere only', body: s.vmRequestSchema, response: s.vmOperationResponseSchema, errors: [400, 404, 502, 504] },
  { method: 'post', path: '/vms/poweroff', summary: 'Hard power-off (a workflow vmop-poweroff-<uuid>); vSphere only', body: s.vmRequestSchema, response: s.vmOperationResponseSchema, errors: [400, 404, 502, 504] },
  { method: 'post', path: '/vms/remove-cdrom', summary: 'Removes every CD/DVD drive (a workflow vmop-remove-cdrom-<uuid>); vSphere only', body: s.vmRequestSchema, response: s.vmOperationResponseSchema, errors: [400, 404, 502, 504] },
  { method: 'get', path: '/openapi.json', summary: 'This document', response: z.record(z.string(), z.unknown()) },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics (text format)', response: z.string() },
];

function jsonSchema(schema: Schema): unknown {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any', io: 'output' });
}

export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { description: 'Error', content: { 'application/json': { schema: jsonSchema(s.errorResponseSchema) } } };
  for (const op of operations) {
    const responses: Record<string, unknown> = {
      200: { description: 'OK', content: { [op.path === '/metrics' ? 'text/plain' : 'application/json']: { schema: jsonSchema(op.response) } } },
    };
    // 403: a foreign Origin, or a non-loopback Host without a token (every route);
    // 415: a body that is not JSON or YAML.
    const boundary = [403, ...(op.body ? [415] : [])];
    for (const code of [...(op.errors ?? []), ...(op.path === '/health' ? [] : [401]), ...boundary]) responses[code] = error;
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      ...(op.params || op.query
        ? {
            parameters: [
              ...(op.params ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
              ...(op.query ?? []).map((q) => ({ ...q, in: 'query', required: false })),
            ],
          }
        : {}),
      ...(op.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) }, 'application/yaml': { schema: jsonSchema(op.body) } } } }
        : {}),
      responses,
      ...(op.path === '/health' ? { security: [] } : {}),
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'hypersdk REST API', version, description: 'Compatible with the original hypersdk daemon (hypervisord).' },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
  };
}
