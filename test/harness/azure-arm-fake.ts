// A stand-in for the few Azure Resource Manager calls the azure provider makes,
// and for the token endpoint of a managed identity: there is no emulator of the
// Azure compute API, nor of Entra ID. Everything else is real: the provider's
// @azure/arm-compute client and @azure/identity credential talk to this over
// HTTP(S) exactly as they talk to Azure, and the disks are page blobs in Azurite.
//
// Resource Manager (HTTPS on 127.0.0.1, a certificate of a throw-away CA from
// certs.ts: the worker trusts it through azure.ca_file, nothing disables TLS
// verification). Every request must carry a bearer token this file's identity
// endpoint issued (else 401 InvalidAuthenticationToken). Served, in Resource
// Manager's JSON shapes (properties nested, {value:[…]} lists, {error:{code,message}}):
//   GET    /subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines[/N][?$expand=instanceView]
//   GET    /subscriptions/S/providers/Microsoft.Compute/virtualMachines
//   POST   …/virtualMachines/N/deallocate                               (long-running)
//   GET    /subscriptions/S/providers/Microsoft.Compute/skus            (VM sizes: vCPUs, MemoryGB)
//   GET    …/disks/N
//   GET|PUT|DELETE …/snapshots/N                                        (PUT, DELETE long-running)
//   POST   …/snapshots/N/beginGetAccess, …/snapshots/N/endGetAccess    (long-running)
//   GET    /subscriptions/S/resourceGroups/G/providers/Microsoft.Network/networkInterfaces/N
//          (a VM's NIC: its MAC address as Azure writes it, "00-0D-3A-…", and its subnet)
// Long-running operations answer 201/202 with Azure-AsyncOperation (the status:
// InProgress on the first poll, then Succeeded) and Location (202 until done, then
// the result: GrantAccess's {accessSAS}), and Retry-After: 0 so polls are quick.
//
// A snapshot "copies" its disk: Azurite copies the disk's page blob server-side
// (Copy Blob keeps the page ranges), so the snapshot's blob holds the disk's bytes
// and allocation. GrantAccess mints a read SAS of that blob (service SAS signed
// with Azurite's account key, expiring after durationInSeconds), for the blob
// endpoint the test chooses (a counting relay in front of Azurite). A snapshot
// with an active SAS cannot be deleted (409 OperationNotAllowed), as in Azure.
//
// Tokens (managed identity, App Service style): a plain-HTTP endpoint on
// 127.0.0.1, as App Service's local one is. `identityEnv()` gives IDENTITY_ENDPOINT
// and IDENTITY_HEADER (a random secret the endpoint requires) for the worker's
// environment; DefaultAzureCredential → ManagedIdentityCredential reads them and
// asks GET ?resource=<audience>&api-version=2019-08-01 with X-IDENTITY-HEADER.
//
// State (`state`): snapshots that exist and were deleted, their access (granted,
// revoked: counts), the Resource Manager calls made: what tests assert on.
// Faults: `sasMode` 'wrong-blob' (a SAS signed for another blob: Azurite answers
// 403) or 'write-only' (no read permission: 403); `sasSeconds` shortens every grant;
// `deniedActions` answers 403 AuthorizationFailed to the RBAC actions it holds.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { makeTestPki } from './certs.js';
import { accountSas, blobSasUrl, type AzureAccount } from './azure-sas.js';

const STORAGE_VERSION = '2021-08-06';
const GiB = 2 ** 30;

export interface FakeDisk {
  name: string;
  resourceGroup: string;
  /** Where its page blob (a fixed VHD: the disk then a 512-byte footer) is in Azurite. */
  container: string;
  blob: string;
  sizeBytes: number;
  sku?: string;
  hyperVGeneration?: 'V1' | 'V2';
}

export interface FakeVm {
  name: string;
  resourceGroup: string;
  vmSize: string;
  powerState: 'running' | 'stopped' | 'deallocated';
  osType?: 'Linux' | 'Windows';
  securityType?: 'TrustedLaunch' | 'ConfidentialVM';
  /** Disk names (registered with addDisk) in the VM's resource group. */
  osDisk: string;
  dataDisks: { lun: number; disk: string }[];
  nics: string[];
  /** The NICs' MAC addresses in Azure's spelling ("00-0D-3A-12-34-56"), by position in `nics`; absent: none yet. */
  nicMacs?: string[];
}

export interface FakeSize {
  name: string;
  vCPUs: number;
  memoryGB: number;
}

export interface FakeSnapshot {
  id: string;
  name: string;
  resourceGroup: string;
  sourceDiskId: string;
  incremental: boolean;
  tags: Record<string, string>;
  blob: string;
  provisioningState: 'Creating' | 'Succeeded';
  /** GETs answered since it was made: the first ones report the background copy under way. */
  gets: number;
  /** A read SAS is out (granted and not revoked). */
  accessActive: boolean;
  grants: number;
  revokes: number;
}

export interface ArmCall {
  method: string;
  path: string;
  status: number;
}

export interface ArmFakeOptions {
  subscriptionId: string;
  location: string;
  azurite: AzureAccount;
  /** The blob endpoint SAS URLs name (e.g. a counting relay's http://127.0.0.1:P/<account>); default Azurite's. */
  sasBlobEndpoint?: string;
  /** Where the throw-away PKI is written. */
  pkiDir: string;
  sizes?: FakeSize[];
}

interface Operation {
  polls: number;
  result?: unknown;
  done: () => void;
  finished: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ROUTE = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?\/providers\/Microsoft\.Compute\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?\/?$/i;
const NIC_ROUTE = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/networkInterfaces\/([^/]+)\/?$/i;
const OPERATION = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Compute\/locations\/([^/]+)\/(operations|operationResults)\/([^/]+)$/i;

export class ArmFake {
  readonly disks = new Map<string, FakeDisk>();
  readonly vms = new Map<string, FakeVm>();
  readonly state = { snapshots: new Map<string, FakeSnapshot>(), deleted: [] as FakeSnapshot[], calls: [] as ArmCall[], tokensIssued: 0 };
  /** How GrantAccess mints SAS URLs: right, or refused by Azurite with 403. */
  sasMode: 'ok' | 'wrong-blob' | 'write-only' = 'ok';
  /** RBAC actions the identity lacks (e.g. "Microsoft.Compute/snapshots/write"): answered 403 AuthorizationFailed. */
  readonly deniedActions = new Set<string>();
  /** Polls a long-running operation answers InProgress before it is done. */
  operationPolls = 1;
  /** When set, every SAS lasts this long whatever the grant asked. */
  sasSeconds: number | undefined;
  /** The CA certificate (PEM file) to trust for `endpoint` (azure.ca_file). */
  readonly caFile: string;

  private readonly tokens = new Set<string>();
  private readonly operations = new Map<string, Operation>();
  private readonly identityHeader = randomBytes(24).toString('hex');
  private arm!: Server;
  private identity!: Server;
  private armOrigin = '';
  private identityOrigin = '';

  private constructor(private readonly o: ArmFakeOptions) {
    const pki = makeTestPki(o.pkiDir);
    this.caFile = pki.caCert;
    this.arm = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (req, res) => void this.serveArm(req, res));
    this.identity = createHttpServer((req, res) => this.serveToken(req, res));
  }

  static async start(o: ArmFakeOptions): Promise<ArmFake> {
    const fake = new ArmFake(o);
    const listen = (s: Server) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
    fake.armOrigin = `https://127.0.0.1:${await listen(fake.arm)}`;
    fake.identityOrigin = `http://127.0.0.1:${await listen(fake.identity)}`;
    await fake.blobPut(`${o.azurite.blobEndpoint}/snapshots?restype=container`, {}, [201, 409]);
    return fake;
  }

  /** azure.resource_manager_endpoint. */
  get endpoint(): string {
    return this.armOrigin;
  }

  /** The variables ManagedIdentityCredential reads (App Service): set them in the worker's environment. */
  identityEnv(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
    return { IDENTITY_ENDPOINT: `${this.identityOrigin}/msi/token`, IDENTITY_HEADER: this.identityHeader };
  }

  diskId(resourceGroup: string, name: string): string {
    return `/subscriptions/${this.o.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
  }

  vmId(resourceGroup: string, name: string): string {
    return `/subscriptions/${this.o.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`;
  }

  addDisk(d: FakeDisk): string {
    this.disks.set(key(d.resourceGroup, d.name), d);
    return this.diskId(d.resourceGroup, d.name);
  }

  addVm(v: FakeVm): string {
    this.vms.set(key(v.resourceGroup, v.name), v);
    return this.vmId(v.resourceGroup, v.name);
  }

  /** Snapshots that exist now whose tag `hypersdk:created-by` is `tag`. */
  snapshotsTagged(tag: string): FakeSnapshot[] {
    return [...this.state.snapshots.values()].filter((s) => s.tags['hypersdk:created-by'] === tag);
  }

  deletedTagged(tag: string): FakeSnapshot[] {
    return this.state.deleted.filter((s) => s.tags['hypersdk:created-by'] === tag);
  }

  async close(): Promise<void> {
    for (const s of [this.arm, this.identity]) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  // --- the token endpoint -------------------------------------------------------

  private serveToken(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.identityOrigin);
    const resource = url.searchParams.get('resource');
    if (url.pathname !== '/msi/token' || req.headers['x-identity-header'] !== this.identityHeader || !resource) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request', error_description: 'missing or wrong X-IDENTITY-HEADER or resource' }));
      return;
    }
    const token = randomBytes(32).toString('base64url');
    this.tokens.add(token);
    this.state.tokensIssued++;
    const expires = Math.floor(Date.now() / 1000) + 3600;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_on: String(expires), resource, token_type: 'Bearer', client_id: randomUUID() }));
  }

  // --- Resource Manager ---------------------------------------------------------

  private async serveArm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.armOrigin);
    const call: ArmCall = { method: req.method ?? 'GET', path: url.pathname, status: 0 };
    this.state.calls.push(call);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'x-ms-request-id': randomUUID(), ...headers }).end(text);
    };
    try {
      const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
      if (!auth || !this.tokens.has(auth[1]!)) throw new HttpError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      await this.route(req.method ?? 'GET', url, body, send);
    } catch (err) {
      if (err instanceof HttpError) send(err.status, { error: { code: err.code, message: err.message } });
      else send(500, { error: { code: 'InternalServerError', message: String(err) } });
    }
  }

  private async route(method: string, url: URL, body: Record<string, unknown>, send: (status: number, body?: unknown, headers?: Record<string, string>) => void): Promise<void> {
    const o = OPERATION.exec(url.pathname);
    if (o) {
      const [, subscription, , kind, id] = o as unknown as string[];
      const op = subscription === this.o.subscriptionId ? this.operations.get(id!) : undefined;
      if (!op) throw new HttpError(404, 'NotFound', `no operation ${id}`);
      // InProgress on the first polls (operationPolls), done after.
      if (!op.finished && op.polls++ >= this.operationPolls) {
        op.finished = true;
        op.done();
      }
      if (kind!.toLowerCase() === 'operations') {
        return send(200, { name: id, status: op.finished ? 'Succeeded' : 'InProgress', startTime: new Date().toISOString(), ...(op.finished && op.result ? { properties: { output: op.result } } : {}) }, op.finished ? {} : { 'retry-after': '0' });
      }
      if (!op.finished) return send(202, undefined, { location: url.toString(), 'retry-after': '0' });
      return send(200, op.result);
    }
    const nic = NIC_ROUTE.exec(url.pathname);
    if (nic && method === 'GET') return send(200, this.nicJson(nic[1]!, nic[2]!, nic[3]!));
    const m = ROUTE.exec(url.pathname);
    if (!m) throw new HttpError(404, 'NotFound', `no route ${method} ${url.pathname}`);
    const [, subscription, group, collection, name, action] = m as unknown as (string | undefined)[];
    if (subscription !== this.o.subscriptionId) throw new HttpError(404, 'SubscriptionNotFound', `The subscription '${subscription}' could not be found.`);
    const type = collection!.toLowerCase();
    if (!group && type === 'skus' && method === 'GET') return send(200, { value: this.skus() });
    if (!group && type === 'virtualmachines' && !name && method === 'GET') {
      return send(200, { value: [...this.vms.values()].map((v) => this.vmJson(v, false)) });
    }
    if (!group) throw new HttpError(404, 'NotFound', `no route ${method} ${url.pathname}`);
    const rbac = `Microsoft.Compute/${collection}${action ? `/${action}/action` : method === 'GET' ? '/read' : method === 'DELETE' ? '/delete' : '/write'}`;
    if ([...this.deniedActions].some((a) => a.toLowerCase() === rbac.toLowerCase())) {
      throw new HttpError(403, 'AuthorizationFailed', `The client '${randomUUID()}' with object id '${randomUUID()}' does not have authorization to perform action '${rbac}' over scope '${url.pathname}' or the scope is invalid.`);
    }
    if (type === 'virtualmachines') return this.routeVm(method, group, name, action, url, send);
    if (type === 'disks' && name && !action && method === 'GET') return send(200, this.diskJson(this.disk(group, name)));
    if (type === 'snapshots' && name) return this.routeSnapshot(method, group, name, action, body, send);
    throw new HttpError(404, 'NotFound', `no route ${method} ${url.pathname}`);
  }

  /** A NIC of one of the VMs, in the Network provider's JSON shape. */
  private nicJson(subscription: string, group: string, name: string): unknown {
    const rbac = 'Microsoft.Network/networkInterfaces/read';
    if ([...this.deniedActions].some((a) => a.toLowerCase() === rbac.toLowerCase())) {
      throw new HttpError(403, 'AuthorizationFailed', `The client '${randomUUID()}' does not have authorization to perform action '${rbac}'.`);
    }
    const vm = subscription === this.o.subscriptionId ? [...this.vms.values()].find((v) => v.resourceGroup.toLowerCase() === group.toLowerCase() && v.nics.includes(name)) : undefined;
    if (!vm) throw new HttpError(404, 'ResourceNotFound', `The Resource 'Microsoft.Network/networkInterfaces/${name}' under resource group '${group}' was not found.`);
    const i = vm.nics.indexOf(name);
    const vnet = `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${group}-vnet`;
    return {
      id: `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Network/networkInterfaces/${name}`,
      name,
      type: 'Microsoft.Network/networkInterfaces',
      location: this.o.location,
      properties: {
        provisioningState: 'Succeeded',
        ...(vm.nicMacs?.[i] ? { macAddress: vm.nicMacs[i] } : {}),
        primary: i === 0,
        ipConfigurations: [{ name: 'ipconfig1', properties: { primary: true, privateIPAddress: `10.0.0.${4 + i}`, subnet: { id: `${vnet}/subnets/default` } } }],
        virtualMachine: { id: this.vmId(vm.resourceGroup, vm.name) },
      },
    };
  }

  private routeVm(method: string, group: string, name: string | undefined, action: string | undefined, url: URL, send: (status: number, body?: unknown, headers?: Record<string, string>) => void): void {
    if (!name && method === 'GET') {
      return send(200, { value: [...this.vms.values()].filter((v) => v.resourceGroup.toLowerCase() === group.toLowerCase()).map((v) => this.vmJson(v, false)) });
    }
    const vm = this.vms.get(key(group, name ?? ''));
    if (!vm) throw new HttpError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachines/${name}' under resource group '${group}' was not found.`);
    if (!action && method === 'GET') return send(200, this.vmJson(vm, (url.searchParams.get('$expand') ?? '').toLowerCase() === 'instanceview'));
    if (action?.toLowerCase() === 'deallocate' && method === 'POST') {
      return this.startOperation(send, 202, undefined, undefined, () => (vm.powerState = 'deallocated'));
    }
    throw new HttpError(404, 'NotFound', `no route ${method} virtualMachines/${name}/${action ?? ''}`);
  }

  private async routeSnapshot(method: string, group: string, name: string, action: string | undefined, body: Record<string, unknown>, send: (status: number, body?: unknown, headers?: Record<string, string>) => void): Promise<void> {
    const k = key(group, name);
    const snapshot = this.state.snapshots.get(k);
    const missing = () => new HttpError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/snapshots/${name}' under resource group '${group}' was not found.`);
    if (!action && method === 'GET') {
      if (!snapshot) throw missing();
      snapshot.gets++;
      return send(200, this.snapshotJson(snapshot));
    }
    if (!action && method === 'PUT') {
      const props = (body.properties ?? {}) as { creationData?: { createOption?: string; sourceResourceId?: string }; incremental?: boolean };
      const source = props.creationData?.sourceResourceId ?? '';
      const disk = [...this.disks.values()].find((d) => this.diskId(d.resourceGroup, d.name).toLowerCase() === source.toLowerCase());
      if (props.creationData?.createOption !== 'Copy' || !disk) throw new HttpError(400, 'InvalidParameter', `creationData must copy an existing managed disk (got ${props.creationData?.createOption} of ${source})`);
      if (snapshot) throw new HttpError(409, 'Conflict', `snapshot ${name} exists (this stand-in does not update snapshots)`);
      const blob = `${group}-${name}.vhd`;
      // Azurite copies the disk's page blob, page ranges and all.
      await this.blobPut(`${this.o.azurite.blobEndpoint}/snapshots/${blob}`, { 'x-ms-copy-source': `${this.o.azurite.blobEndpoint}/${disk.container}/${disk.blob}?${this.accountSas()}` }, [202]);
      const made: FakeSnapshot = {
        id: `/subscriptions/${this.o.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Compute/snapshots/${name}`,
        name,
        resourceGroup: group,
        sourceDiskId: source,
        incremental: props.incremental === true,
        tags: (body.tags ?? {}) as Record<string, string>,
        blob,
        provisioningState: 'Creating',
        gets: 0,
        accessActive: false,
        grants: 0,
        revokes: 0,
      };
      this.state.snapshots.set(k, made);
      return this.startOperation(send, 201, this.snapshotJson(made), undefined, () => (made.provisioningState = 'Succeeded'));
    }
    if (!action && method === 'DELETE') {
      if (!snapshot) return send(204);
      if (snapshot.accessActive) throw new HttpError(409, 'OperationNotAllowed', `Snapshot ${name} has an active SAS: revoke the access before deleting it.`);
      this.state.snapshots.delete(k);
      this.state.deleted.push(snapshot);
      await this.blobDelete(`${this.o.azurite.blobEndpoint}/snapshots/${snapshot.blob}`);
      return this.startOperation(send, 202, undefined, undefined, () => undefined);
    }
    if (action?.toLowerCase() === 'begingetaccess' && method === 'POST') {
      if (!snapshot) throw missing();
      const access = body as { access?: string; durationInSeconds?: number };
      if (access.access !== 'Read' || !Number.isInteger(access.durationInSeconds) || access.durationInSeconds! <= 0) throw new HttpError(400, 'InvalidParameter', 'access must be Read with a positive durationInSeconds');
      const seconds = this.sasSeconds ?? access.durationInSeconds!;
      const url = blobSasUrl(
        { ...this.o.azurite, blobEndpoint: this.o.sasBlobEndpoint ?? this.o.azurite.blobEndpoint },
        {
          container: 'snapshots',
          blob: snapshot.blob,
          expiresAt: new Date(Date.now() + seconds * 1000),
          ...(this.sasMode === 'wrong-blob' ? { signedBlob: `not-${snapshot.blob}` } : {}),
          ...(this.sasMode === 'write-only' ? { permissions: 'w' } : {}),
        },
      );
      snapshot.accessActive = true;
      snapshot.grants++;
      return this.startOperation(send, 202, undefined, { accessSAS: url }, () => undefined);
    }
    if (action?.toLowerCase() === 'endgetaccess' && method === 'POST') {
      if (!snapshot) throw missing();
      snapshot.accessActive = false;
      snapshot.revokes++;
      return this.startOperation(send, 202, undefined, undefined, () => undefined);
    }
    throw new HttpError(404, 'NotFound', `no route ${method} snapshots/${name}/${action ?? ''}`);
  }

  /** Answers a long-running operation's first response: status and result URLs, polled until done. */
  private startOperation(send: (status: number, body?: unknown, headers?: Record<string, string>) => void, status: number, body: unknown, result: unknown, done: () => void): void {
    const id = randomUUID();
    this.operations.set(id, { polls: 0, result, done, finished: false });
    const base = `${this.armOrigin}/subscriptions/${this.o.subscriptionId}/providers/Microsoft.Compute/locations/${this.o.location}`;
    send(status, body, {
      'azure-asyncoperation': `${base}/operations/${id}?api-version=2025-01-02`,
      location: `${base}/operationResults/${id}?api-version=2025-01-02`,
      'retry-after': '0',
    });
  }

  private disk(group: string, name: string): FakeDisk {
    const d = this.disks.get(key(group, name));
    if (!d) throw new HttpError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/disks/${name}' under resource group '${group}' was not found.`);
    return d;
  }

  private skus(): unknown[] {
    return (this.o.sizes ?? []).map((s) => ({
      resourceType: 'virtualMachines',
      name: s.name,
      tier: 'Standard',
      size: s.name.replace(/^Standard_/, ''),
      locations: [this.o.location],
      capabilities: [
        { name: 'vCPUs', value: String(s.vCPUs) },
        { name: 'MemoryGB', value: String(s.memoryGB) },
      ],
    }));
  }

  private vmJson(v: FakeVm, instanceView: boolean): unknown {
    const os = this.disk(v.resourceGroup, v.osDisk);
    const diskRef = (d: FakeDisk) => ({ id: this.diskId(d.resourceGroup, d.name), storageAccountType: d.sku ?? 'Premium_LRS' });
    return {
      id: this.vmId(v.resourceGroup, v.name),
      name: v.name,
      type: 'Microsoft.Compute/virtualMachines',
      location: this.o.location,
      properties: {
        vmId: uuidOf(v.name),
        hardwareProfile: { vmSize: v.vmSize },
        storageProfile: {
          imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
          osDisk: { osType: v.osType ?? 'Linux', name: os.name, createOption: 'FromImage', caching: 'ReadWrite', diskSizeGB: Math.ceil(os.sizeBytes / GiB), managedDisk: diskRef(os) },
          dataDisks: v.dataDisks.map(({ lun, disk }) => {
            const d = this.disk(v.resourceGroup, disk);
            return { lun, name: d.name, createOption: 'Attach', caching: 'None', diskSizeGB: Math.ceil(d.sizeBytes / GiB), managedDisk: diskRef(d), toBeDetached: false };
          }),
          diskControllerType: 'SCSI',
        },
        ...(v.securityType ? { securityProfile: { securityType: v.securityType, uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } } } : {}),
        networkProfile: {
          networkInterfaces: v.nics.map((nic, i) => ({ id: `/subscriptions/${this.o.subscriptionId}/resourceGroups/${v.resourceGroup}/providers/Microsoft.Network/networkInterfaces/${nic}`, properties: { primary: i === 0 } })),
        },
        provisioningState: 'Succeeded',
        ...(instanceView
          ? {
              instanceView: {
                hyperVGeneration: os.hyperVGeneration ?? 'V1',
                statuses: [
                  { code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded' },
                  { code: `PowerState/${v.powerState}`, level: 'Info', displayStatus: `VM ${v.powerState}` },
                ],
              },
            }
          : {}),
      },
    };
  }

  private diskJson(d: FakeDisk): unknown {
    return {
      id: this.diskId(d.resourceGroup, d.name),
      name: d.name,
      type: 'Microsoft.Compute/disks',
      location: this.o.location,
      sku: { name: d.sku ?? 'Premium_LRS', tier: 'Premium' },
      properties: {
        osType: 'Linux',
        ...(d.hyperVGeneration ? { hyperVGeneration: d.hyperVGeneration } : {}),
        creationData: { createOption: 'Empty' },
        diskSizeGB: Math.ceil(d.sizeBytes / GiB),
        diskSizeBytes: d.sizeBytes,
        provisioningState: 'Succeeded',
        diskState: 'Attached',
      },
    };
  }

  private snapshotJson(s: FakeSnapshot): unknown {
    const disk = [...this.disks.values()].find((d) => this.diskId(d.resourceGroup, d.name).toLowerCase() === s.sourceDiskId.toLowerCase());
    return {
      id: s.id,
      name: s.name,
      type: 'Microsoft.Compute/snapshots',
      location: this.o.location,
      tags: s.tags,
      sku: { name: 'Standard_LRS', tier: 'Standard' },
      properties: {
        creationData: { createOption: 'Copy', sourceResourceId: s.sourceDiskId },
        incremental: s.incremental,
        diskSizeGB: Math.ceil((disk?.sizeBytes ?? 0) / GiB),
        diskSizeBytes: disk?.sizeBytes ?? 0,
        provisioningState: s.provisioningState,
        // An incremental snapshot's background copy: reported under way on the first GETs.
        ...(s.incremental ? { completionPercent: s.gets <= 1 ? 50 : 100 } : {}),
        diskState: s.accessActive ? 'ActiveSAS' : 'Unattached',
      },
    };
  }

  // --- Azurite ------------------------------------------------------------------

  private accountSas(): string {
    return accountSas(this.o.azurite, new Date(Date.now() + 3600_000));
  }

  private async blobPut(url: string, headers: Record<string, string>, ok: number[]): Promise<void> {
    const res = await request(`${url}${url.includes('?') ? '&' : '?'}${this.accountSas()}`, { method: 'PUT', headers: { 'x-ms-version': STORAGE_VERSION, 'content-length': '0', ...headers } });
    const text = await res.body.text();
    if (!ok.includes(res.statusCode)) throw new Error(`Azurite: PUT ${url} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  }

  private async blobDelete(url: string): Promise<void> {
    const res = await request(`${url}?${this.accountSas()}`, { method: 'DELETE', headers: { 'x-ms-version': STORAGE_VERSION } });
    await res.body.dump();
  }
}

function key(group: string, name: string): string {
  return `${group.toLowerCase()}/${name.toLowerCase()}`;
}

/** A stable UUID-shaped vmId for a VM name. */
function uuidOf(name: string): string {
  const hex = Buffer.from(name.padEnd(16, '0').slice(0, 16)).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
