// A NIC's MAC address and network, from the Network resource provider. The VM
// model names its NICs only by resource id; the MAC lives on the NIC resource, and
// a migrated guest whose NIC keeps its MAC keeps a network configuration that
// matches it (udev rules, netplan `match: macaddress`, Windows' adapter bindings).
//
// One plain GET per NIC through the compute client's own pipeline (its credential,
// retries, user agent and extra CA): one field does not justify a second SDK.
// A NIC the worker's identity may not read (403) or that is gone (404) leaves its
// MAC empty instead of failing the export: the MAC is what the description adds,
// the disks are what the export is for. Other answers fail as any Resource Manager
// call does (errors.ts).
import type { ComputeManagementClient } from '@azure/arm-compute';
import { createDefaultHttpClient, createPipelineRequest, RestError, type HttpClient } from '@azure/core-rest-pipeline';
import { azureCall } from './errors.js';
import { nameOfId } from './hardware.js';

const API_VERSION = '2024-05-01';
const READ_ACTION = 'Microsoft.Network/networkInterfaces/read';

export interface NicDetails {
  /** "00:0d:3a:12:34:56", or '' where Azure has none yet (a NIC gets one when its VM first starts). */
  macAddress: string;
  /** "<virtual network>/<subnet>" of the NIC's primary IP configuration, or '' where it names none. */
  network: string;
}

interface NicResource {
  properties?: {
    macAddress?: string;
    ipConfigurations?: { properties?: { primary?: boolean; subnet?: { id?: string } } }[];
  };
}

/** Azure writes MACs as "00-0D-3A-12-34-56"; KVM, libvirt and the other providers as "00:0d:3a:12:34:56". */
export function normalizedMac(value: string | undefined): string {
  const hex = (value ?? '').replace(/[-:]/g, '').toLowerCase();
  return /^[0-9a-f]{12}$/.test(hex) ? hex.match(/../g)!.join(':') : '';
}

/** "<vnet>/<subnet>" from ".../virtualNetworks/<vnet>/subnets/<subnet>". */
export function networkOfSubnet(subnetId: string | undefined): string {
  const m = /\/virtualNetworks\/([^/]+)\/subnets\/([^/]+)$/i.exec(subnetId ?? '');
  return m ? `${m[1]}/${m[2]}` : '';
}

export function nicDetailsOf(nic: NicResource): NicDetails {
  const configs = nic.properties?.ipConfigurations ?? [];
  const primary = configs.find((c) => c.properties?.primary) ?? configs[0];
  return { macAddress: normalizedMac(nic.properties?.macAddress), network: networkOfSubnet(primary?.properties?.subnet?.id) };
}

export class NicReader {
  private readonly http: HttpClient = createDefaultHttpClient();

  constructor(
    private readonly client: ComputeManagementClient,
    /** Resource Manager's origin (clients.ts resourceManagerOrigin). */
    private readonly origin: string,
  ) {}

  /** The NIC's details; undefined where the identity may not read it (403) or it is gone (404). */
  async read(nicId: string): Promise<NicDetails | undefined> {
    const subject = `network interface "${nameOfId(nicId)}"`;
    return azureCall({ action: READ_ACTION, subject }, async () => {
      const url = `${this.origin}${nicId}?api-version=${API_VERSION}`;
      const res = await this.client.pipeline.sendRequest(this.http, createPipelineRequest({ url, method: 'GET' }));
      if (res.status === 200) return nicDetailsOf(JSON.parse(res.bodyAsText ?? '{}') as NicResource);
      if (res.status === 403 || res.status === 404) return undefined;
      const code = errorCode(res.bodyAsText ?? undefined) ?? `HTTP${res.status}`;
      throw new RestError(`GET ${nameOfId(nicId)}: ${code}`, { statusCode: res.status, code });
    });
  }
}

function errorCode(body: string | undefined): string | undefined {
  try {
    const code = (JSON.parse(body ?? '') as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
