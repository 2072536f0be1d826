// The rules a worker enforces from its own configuration, whatever a workflow's
// input says (anyone who can start a workflow on the Temporal namespace reaches the
// worker): which S3 buckets it writes to and which vCenters it sends inline
// credentials to. Pure functions, shared by the gateway (to refuse early, with the
// field) and the worker (to refuse for real). Each answer is undefined when allowed,
// else a sentence naming the rule and the key that would allow it.
import type { HyperConfig, VsphereProfile } from './types.js';

/** "bucket" or "bucket/prefix" entries of s3.allowed_buckets, as bucket + key prefix ("" or ending in "/"). */
function parseBucketEntry(entry: string): { bucket: string; prefix: string } {
  const [bucket = '', ...rest] = entry.split('/');
  const prefix = rest.filter(Boolean).join('/');
  return { bucket, prefix: prefix ? `${prefix}/` : '' };
}

/** A prefix whose segments S3 servers may normalise ("..", "."), or with empty ones, could land elsewhere. */
function plainPrefix(prefix: string): boolean {
  if (prefix === '') return true;
  if (!prefix.endsWith('/')) return false;
  return prefix
    .slice(0, -1)
    .split('/')
    .every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('\\'));
}

export function bucketRefusal(
  allowed: readonly string[] | undefined,
  bucket: string,
  prefix: string,
): string | undefined {
  const list = allowed ?? [];
  const where = `s3://${bucket}/${prefix}`;
  if (!plainPrefix(prefix)) return `${where}: the key prefix has empty, "." or ".." segments`;
  for (const entry of list) {
    const rule = parseBucketEntry(entry);
    if (rule.bucket === bucket && prefix.startsWith(rule.prefix)) return undefined;
  }
  return (
    `${where} is not in this worker's s3.allowed_buckets (${list.length ? list.join(', ') : 'none: S3 output is off'}); ` +
    `add "${bucket}" or "${bucket}/${prefix.replace(/\/$/, '')}" to s3.allowed_buckets (HYPERSDK_S3_ALLOWED_BUCKETS)`
  );
}

/** host[:port] as URL.host spells it (lower case, default port dropped). */
export function normaliseHost(hostPort: string): string | undefined {
  try {
    return new URL(`https://${hostPort}`).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** vsphere.allowed_hosts, or by default the hosts of the configured profiles. */
export function allowedVcenterHosts(
  vsphere: Pick<HyperConfig['vsphere'], 'allowedHosts' | 'profiles'>,
): string[] {
  const configured =
    vsphere.allowedHosts ?? Object.values(vsphere.profiles).map((p) => vcenterUrl(p.url)?.host ?? '');
  return [...new Set(configured.map((h) => normaliseHost(h) ?? '').filter(Boolean))];
}

/** The URL inline credentials name: a bare host means https://host/sdk, as for profiles. */
export function vcenterUrl(server: string): URL | undefined {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `https://${server}`;
  try {
    return new URL(withScheme);
  } catch {
    return undefined;
  }
}

/** Inline credentials go only to an allowed host, and only over https unless both the job and the config say otherwise. */
export function vcenterRefusal(
  vsphere: Pick<HyperConfig['vsphere'], 'allowedHosts' | 'profiles' | 'allowInsecureHttp'>,
  inline: Pick<VsphereProfile, 'url' | 'insecure'>,
): string | undefined {
  const url = vcenterUrl(inline.url);
  if (!url) return 'the inline vCenter server is not a URL or host name';
  if (url.protocol === 'http:') {
    if (!inline.insecure || !vsphere.allowInsecureHttp) {
      return (
        `the inline vCenter ${url.host} is named with http://, which would send the password in clear; ` +
        'use https://, or set insecure on the job and vsphere.allow_insecure_http: true in the worker configuration'
      );
    }
  } else if (url.protocol !== 'https:') {
    return `the inline vCenter URL has scheme ${url.protocol}; only https:// is used`;
  }
  const allowed = allowedVcenterHosts(vsphere);
  if (allowed.includes(url.host.toLowerCase())) return undefined;
  return (
    `the inline vCenter ${url.host} is not in this worker's vsphere.allowed_hosts (${allowed.length ? allowed.join(', ') : 'none'}); ` +
    `credentials are sent only there: add "${url.host}" to vsphere.allowed_hosts (HYPERSDK_VSPHERE_ALLOWED_HOSTS)`
  );
}
