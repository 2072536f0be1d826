// Tests put loopback servers where a vCenter or ESXi host would serve a disk (a
// relay that cuts a stream, a datastore that refuses). They listen on other ports,
// which the worker's download-host rule refuses (the vCenter only on its own port),
// so the test's provider lets exactly those through and sends every other URL to
// the real rule.
import type { VsphereProvider } from '../../src/providers/vsphere/provider.js';

export function letStandInsThrough(
  provider: Pick<VsphereProvider, 'checkDownloadUrl'>,
  isStandIn: (url: URL) => boolean,
): void {
  const real = provider.checkDownloadUrl.bind(provider);
  provider.checkDownloadUrl = (url: string) => (isStandIn(new URL(url)) ? Promise.resolve() : real(url));
}
