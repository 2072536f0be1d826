// Where the session cookie may go. Lease device URLs and datastore URLs carry the
// vCenter session cookie; a URL is fetched only when its host is the vCenter this
// session talks to or an ESXi host that vCenter reports (HostSystem names and the
// IP addresses of their VMkernel interfaces). The URL comes from a workflow's
// activity input, which anyone who can reach the Temporal namespace (or answer its
// task queue) can shape: without this check, it could name any server and receive
// the cookie.
import { ErrorType } from '../../core/errors.js';
import { withContainerView } from './discovery.js';
import { failure } from './faults.js';
import { propertySpecs, retrieveAll, viewObjectSpec } from './property-collector.js';
import type { VsphereSession } from './session.js';
import { arrayItems, isObject, optText, text } from './xml.js';

const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, '').toLowerCase();
const portOf = (u: URL) => Number(u.port || (u.protocol === 'http:' ? 80 : 443));

/** Names and addresses of every ESXi host the vCenter knows (one property collector call). */
export async function reportedHosts(session: VsphereSession): Promise<Set<string>> {
  const objects = await withContainerView(session, ['HostSystem'], (view) =>
    retrieveAll(
      session.client,
      session.content.propertyCollector,
      propertySpecs([{ type: 'HostSystem', pathSet: ['name', 'config.network.vnic'] }]),
      [viewObjectSpec(view)],
    ),
  );
  const hosts = new Set<string>();
  for (const o of objects) {
    const name = text(o.props.get('name'));
    if (name) hosts.add(bare(name));
    for (const vnic of arrayItems(o.props.get('config.network.vnic'))) {
      const ip =
        isObject(vnic) && isObject(vnic.spec) && isObject(vnic.spec.ip)
          ? optText(vnic.spec.ip.ipAddress)
          : undefined;
      if (ip) hosts.add(bare(ip));
    }
  }
  return hosts;
}

/**
 * Refuses (DeviceHostNotAllowed, non-retryable) a download URL whose host is
 * neither the vCenter (on its port or 443) nor a reported ESXi host; http only
 * when the session itself is http. `hosts` is asked only when needed.
 */
export async function checkDownloadUrl(
  session: VsphereSession,
  url: string,
  hosts: () => Promise<Set<string>>,
): Promise<void> {
  const own = session.client.url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw failure(ErrorType.DeviceHostNotAllowed, 'a download URL of the export is not a URL', true);
  }
  const refuse = (why: string) =>
    failure(
      ErrorType.DeviceHostNotAllowed,
      `download URL host ${u.host} refused: ${why}; the vCenter session cookie is sent only to the vCenter (${own.host}) and the ESXi hosts it reports`,
      true,
    );
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && own.protocol === 'http:'))
    throw refuse(`scheme ${u.protocol}`);
  const host = bare(u.hostname);
  if (host === bare(own.hostname)) {
    if (portOf(u) === portOf(own) || portOf(u) === 443) return;
    throw refuse(`port ${portOf(u)} is not the vCenter's`);
  }
  if ((await hosts()).has(host)) return;
  throw refuse('not the vCenter nor an ESXi host it reports');
}
