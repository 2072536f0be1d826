// Reading /vms request bodies the way the original's clients send them: hyperctl
// sends {vm_path, timeout?}; the Python SDK sends {vcenter: {...}, vm_path}, and
// for /vms/list the vCenter config as the body itself.
import type { z } from 'zod';
import { awsProfileProblem, awsRegionProblem } from '../config/aws-region.js';
import type { HyperConfig, VsphereProfile } from '../config/types.js';
import { vcenterRefusal } from '../config/worker-rules.js';
import type { InlineCredentials } from '../config/secrets.js';
import { DEFAULT_VM_OPERATION_TIMEOUT_SECONDS } from '../core/vm-operation-contract.js';
import { splitListedAwsPath } from '../jobs/aws-job.js';
import type { AwsTarget, AzureTarget } from './deps.js';
import { isAzureRefProblem, resolveAzureScope, resolveAzureVm } from '../core/azure-ids.js';
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

const AWS_CREDENTIAL_CHAIN = "the daemon reads AWS with its own AWS credential chain (environment, ~/.aws, instance role), and profile names a profile of its shared AWS config";

/** Fields of a request that do not apply to its provider: refused, naming the first one that asks for something. */
function refuseFields(body: Record<string, unknown>, fields: readonly string[], reason: (field: string) => string): void {
  for (const field of fields) {
    const value = body[field];
    if (value !== undefined && value !== null && value !== '' && value !== false) throw badRequest(field, reason(field));
  }
}

const AZURE_CREDENTIAL_CHAIN = "the daemon reads Azure with its own Azure credential chain (environment, workload or managed identity, Azure CLI)";

const notForAws = () => `vCenter settings do not apply to provider aws: ${AWS_CREDENTIAL_CHAIN}`;
const notForAzure = (field: string) =>
  `${field === 'profile' ? 'names a vCenter or AWS profile, which does not apply' : 'vCenter settings do not apply'} to provider azure: ${AZURE_CREDENTIAL_CHAIN}`;

/** A cloud field given to a request of another provider would be silently ignored: refused instead. */
function refuseCloudFields(request: { provider?: string; region?: string; subscription_id?: string; resource_group?: string }): void {
  if (request.provider !== 'aws' && request.region !== undefined) {
    throw badRequest('region', 'is for provider aws: add provider aws to list or describe the instances of an AWS region');
  }
  for (const field of ['subscription_id', 'resource_group'] as const) {
    if (request.provider !== 'azure' && request[field] !== undefined) throw badRequest(field, 'is for provider azure: add provider azure to list or describe the VMs of an Azure subscription');
  }
}

/** {vm_path, timeout?, provider?, region?, profile?, vcenter?}; the original also accepted `path` and `name` for vm_path. */
export function parseVmRequest(raw: unknown): VmRequest & { timeoutSeconds: number } {
  if (raw !== undefined && !isRecord(raw)) throw badRequest('body', 'must be a JSON object with vm_path');
  const body = raw ?? {};
  const normalised = body.vm_path === undefined && (body.path !== undefined || body.name !== undefined) ? { ...body, vm_path: body.path ?? body.name } : body;
  const parsed = vmRequestSchema.safeParse(normalised);
  if (!parsed.success) rejectIssue(normalised, parsed.error.issues);
  if (parsed.data.provider === 'aws') refuseFields(normalised, ['vcenter'], notForAws);
  if (parsed.data.provider === 'azure') refuseFields(normalised, ['vcenter', 'profile'], notForAzure);
  refuseCloudFields(parsed.data);
  const timeout = parsed.data.timeout;
  return { ...parsed.data, timeoutSeconds: timeout ? timeout : DEFAULT_VM_OPERATION_TIMEOUT_SECONDS };
}

/** What a VM list names: a vCenter (a profile or inline credentials), an AWS region, or an Azure subscription. */
export type VmListRequest =
  | ({ provider: 'vsphere' } & Pick<VmRequest, 'profile' | 'vcenter'>)
  | { provider: 'aws'; region?: string; profile?: string }
  | { provider: 'azure'; subscription_id?: string; resource_group?: string };

/**
 * POST /vms/list's body (and GET's query): {provider: aws, region?, profile?}, or a
 * vCenter as {profile?, vcenter?} where the SDK's top-level server/username/password move under vcenter.
 */
export function parseVmListRequest(raw: unknown): VmListRequest {
  if (raw === undefined) return { provider: 'vsphere' };
  if (!isRecord(raw)) throw badRequest('body', 'must be a JSON object (profile, or vcenter: {server, username, password, insecure}, or provider: aws with region)');
  const parsed = vmListRequestSchema.safeParse(raw);
  if (!parsed.success) rejectIssue(raw, parsed.error.issues);
  const { provider, region, profile, vcenter, server, username, password, insecure, subscription_id, resource_group } = parsed.data;
  refuseCloudFields(parsed.data);
  if (provider === 'aws') {
    refuseFields(raw, ['vcenter', 'server', 'username', 'password', 'insecure'], notForAws);
    return { provider, ...(region !== undefined ? { region } : {}), ...(profile ? { profile } : {}) };
  }
  if (provider === 'azure') {
    refuseFields(raw, ['profile', 'vcenter', 'server', 'username', 'password', 'insecure'], notForAzure);
    return { provider, ...(subscription_id !== undefined ? { subscription_id } : {}), ...(resource_group !== undefined ? { resource_group } : {}) };
  }
  const vsphere = { provider: 'vsphere' as const, ...(profile ? { profile } : {}) };
  if (vcenter) return { ...vsphere, vcenter };
  if (server === undefined) return vsphere;
  if (!username) throw badRequest('username', 'is required with server');
  return { ...vsphere, vcenter: { server, username, password: password ?? '', ...(insecure !== undefined ? { insecure } : {}) } };
}

/**
 * The region (given, else the daemon's aws.region) and shared-config profile of an
 * AWS request, each refused with a 400 naming its field when unusable.
 */
export function awsTargetOf(config: HyperConfig, request: { region?: string; profile?: string }): AwsTarget {
  const { region, profile } = request;
  const given = region === undefined ? undefined : awsRegionProblem(region);
  if (given) throw badRequest('region', given);
  const chosen = region ?? config.aws?.region;
  if (chosen === undefined) {
    throw badRequest('region', "is required for provider aws: give region (e.g. us-east-1), or set aws.region (AWS_REGION) in the daemon's configuration");
  }
  const fallback = awsRegionProblem(chosen);
  if (fallback) throw badRequest('region', `not given, and the daemon's default aws.region ${fallback}; give region`);
  const profileProblem = profile === undefined ? undefined : awsProfileProblem(profile);
  if (profileProblem) throw badRequest('profile', profileProblem);
  return { region: chosen, ...(profile ? { profile } : {}) };
}

/** An AWS /vms/info request: the instance (id, Name tag, volume or snapshot) and where to read it. A listed path /<region>/<id> names both. */
export function awsVmOf(config: HyperConfig, request: VmRequest): { target: AwsTarget; ref: string } {
  const { ref, region: listed } = splitListedAwsPath(request.vm_path);
  if (listed !== undefined && request.region !== undefined && listed !== request.region) {
    throw badRequest('vm_path', `names region ${listed} but region is ${request.region}: give one region`);
  }
  return { target: awsTargetOf(config, { ...request, ...(listed !== undefined ? { region: listed } : {}) }), ref };
}

/** A request names its subscription and group at its top level. */
const REQUEST_FIELDS = { subscription: 'subscription_id', group: 'resource_group' };

/**
 * The subscription (given, else the daemon's azure.subscription_id) and resource
 * group (given, else the daemon's; absent: the whole subscription) of an Azure
 * request, each refused with a 400 naming its field when malformed or missing.
 */
export function azureTargetOf(config: HyperConfig, request: { subscription_id?: string; resource_group?: string }): AzureTarget {
  const scope = resolveAzureScope({ subscriptionId: request.subscription_id, resourceGroup: request.resource_group }, config.azure, REQUEST_FIELDS);
  if (isAzureRefProblem(scope)) throw badRequest(scope.field, scope.message);
  return scope;
}

/** An Azure /vms/info request: a VM resource id (which names its subscription and group), or a VM name in the request's (or the daemon's) resource group. */
export function azureVmOf(config: HyperConfig, request: VmRequest): { target: AzureTarget; ref: string } {
  const vm = resolveAzureVm(request.vm_path, { subscriptionId: request.subscription_id, resourceGroup: request.resource_group }, config.azure, REQUEST_FIELDS);
  if (isAzureRefProblem(vm)) throw badRequest(vm.field, vm.message);
  return { target: { subscriptionId: vm.subscriptionId, resourceGroup: vm.resourceGroup }, ref: vm.vmRef };
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
