// Reading /vms request bodies the way the original's clients send them: hyperctl
// sends {vm_path, timeout?}; the Python SDK sends {vcenter: {...}, vm_path}, and
// for /vms/list the vCenter config as the body itself.
import type { z } from 'zod';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import { vcenterRefusal } from '../config/worker-rules.js';
import type { InlineCredentials } from '../config/secrets.js';
import { DEFAULT_VM_OPERATION_TIMEOUT_SECONDS } from '../core/vm-operation-contract.js';
import { badRequest } from './http-error.js';
import { vmListRequestSchema, vmRequestSchema } from './schemas.js';

export type VmRequest = z.infer<typeof vmRequestSchema>;

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The first schema issue as `field: reason` (400), "is required" for a missing field. */
function rejectIssue(body: Record<string, unknown>, issues: z.core.$ZodIssue[]): never {
  const issue = issues[0]!;
  const field = issue.path.map(String).join('.') || 'body';
  let value: unknown = body;
  for (const key of issue.path) value = isRecord(value) ? value[key as string] : undefined;
  throw badRequest(field, value === undefined && issue.code === 'invalid_type' ? 'is required' : issue.message);
}

/** {vm_path, timeout?, profile?, vcenter?}; the original also accepted `path` and `name` for vm_path. */
export function parseVmRequest(raw: unknown): VmRequest & { timeoutSeconds: number } {
  if (raw !== undefined && !isRecord(raw)) throw badRequest('body', 'must be a JSON object with vm_path');
  const body = raw ?? {};
  const normalised = body.vm_path === undefined && (body.path !== undefined || body.name !== undefined) ? { ...body, vm_path: body.path ?? body.name } : body;
  const parsed = vmRequestSchema.safeParse(normalised);
  if (!parsed.success) rejectIssue(normalised, parsed.error.issues);
  const timeout = parsed.data.timeout;
  return { ...parsed.data, timeoutSeconds: timeout ? timeout : DEFAULT_VM_OPERATION_TIMEOUT_SECONDS };
}

/** POST /vms/list's body as {profile?, vcenter?}: the SDK's top-level server/username/password move under vcenter. */
export function parseVmListRequest(raw: unknown): Pick<VmRequest, 'profile' | 'vcenter'> {
  if (raw === undefined) return {};
  if (!isRecord(raw)) throw badRequest('body', 'must be a JSON object (profile, or vcenter: {server, username, password, insecure})');
  const parsed = vmListRequestSchema.safeParse(raw);
  if (!parsed.success) rejectIssue(raw, parsed.error.issues);
  const { profile, vcenter, server, username, password, insecure } = parsed.data;
  if (vcenter) return { ...(profile ? { profile } : {}), vcenter };
  if (server === undefined) return profile ? { profile } : {};
  if (!username) throw badRequest('username', 'is required with server');
  return { ...(profile ? { profile } : {}), vcenter: { server, username, password: password ?? '', ...(insecure !== undefined ? { insecure } : {}) } };
}

/**
 * Inline vCenter credentials of a request, refused (400 naming vcenter.server)
 * unless they go where this daemon's configuration sends credentials: the same
 * rule the workers apply to inline credentials of jobs.
 */
export function inlineCredentials(config: HyperConfig, vcenter: VmRequest['vcenter']): { credentials: InlineCredentials; profile: VsphereProfile } | undefined {
  if (!vcenter) return undefined;
  const credentials: InlineCredentials = {
    server: vcenter.server,
    username: vcenter.username,
    password: vcenter.password,
    insecure: vcenter.insecure ?? false,
    ...(vcenter.thumbprint ? { thumbprint: vcenter.thumbprint } : {}),
  };
  const refusal = vcenterRefusal(config.vsphere, { url: credentials.server, insecure: credentials.insecure });
  if (refusal) throw badRequest('vcenter.server', refusal);
  const profile: VsphereProfile = {
    url: credentials.server,
    username: credentials.username,
    password: credentials.password,
    insecure: credentials.insecure,
    ...(credentials.thumbprint ? { thumbprint: credentials.thumbprint } : {}),
  };
  return { credentials, profile };
}
