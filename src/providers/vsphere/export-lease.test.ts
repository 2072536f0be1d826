// ExportVm, which vcsim does not implement: the request we send and the lease path
// it shares with ExportSnapshot, against a tiny loopback server replaying responses
// shaped like vCenter 8's (recorded structure, hand-trimmed). This complements, not
// replaces, the integration tests against the real vcsim in test/vsphere.
import { ApplicationFailure } from '@temporalio/common';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorType } from '../../core/errors.js';
import { connectVsphere } from './provider.js';

const NS =
  'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';
const ok = (method: string, inner: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope ${NS}><soapenv:Body><${method}Response xmlns="urn:vim25">${inner}</${method}Response></soapenv:Body></soapenv:Envelope>`;
const fault = (type: string, msg: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope ${NS}><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${msg}</faultstring><detail><${type}Fault xmlns="urn:vim25" xsi:type="${type}"></${type}Fault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`;

const SERVICE_CONTENT = `<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><name>VMware vCenter Server</name><apiType>VirtualCenter</apiType><apiVersion>8.0.2.0</apiVersion></about><sessionManager type="SessionManager">SessionManager</sessionManager><searchIndex type="SearchIndex">SearchIndex</searchIndex></returnval>`;

// Two disks on one LSI Logic controller (bus 0, units 0 and 1) and a CD-ROM.
const DEVICES = `<returnval><objects><obj type="VirtualMachine">vm-42</obj><propSet><name>config.hardware.device</name><val xsi:type="ArrayOfVirtualDevice">
<VirtualDevice xsi:type="VirtualLsiLogicController"><key>1000</key><deviceInfo><label>SCSI controller 0</label></deviceInfo><busNumber>0</busNumber></VirtualDevice>
<VirtualDevice xsi:type="VirtualDisk"><key>2000</key><deviceInfo><label>Hard disk 1</label></deviceInfo><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds1] web/web.vmdk</fileName><datastore type="Datastore">datastore-11</datastore><thinProvisioned>true</thinProvisioned></backing><controllerKey>1000</controllerKey><unitNumber>0</unitNumber><capacityInKB>1024</capacityInKB><capacityInBytes>1048576</capacityInBytes></VirtualDevice>
<VirtualDevice xsi:type="VirtualDisk"><key>2001</key><deviceInfo><label>Hard disk 2</label></deviceInfo><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds1] web/web_1.vmdk</fileName><datastore type="Datastore">datastore-11</datastore><thinProvisioned>false</thinProvisioned></backing><controllerKey>1000</controllerKey><unitNumber>1</unitNumber><capacityInKB>2048</capacityInKB><capacityInBytes>2097152</capacityInBytes></VirtualDevice>
<VirtualDevice xsi:type="VirtualCdrom"><key>3002</key><deviceInfo><label>CD/DVD drive 1</label></deviceInfo><backing xsi:type="VirtualCdromIsoBackingInfo"><fileName>[ds1] iso/tools.iso</fileName></backing><controllerKey>200</controllerKey><unitNumber>0</unitNumber></VirtualDevice>
</val></propSet></objects></returnval>`;

// vCenter lists the second disk first here on purpose: mapping must use the key, not the order.
const LEASE_READY = `<returnval><objects><obj type="HttpNfcLease">session[52aa]52bb</obj>
<propSet><name>info</name><val xsi:type="HttpNfcLeaseInfo"><lease type="HttpNfcLease">session[52aa]52bb</lease><entity type="VirtualMachine">vm-42</entity>
<deviceUrl><key>/vm-42/VirtualLsiLogicController0:1</key><importKey>/web/VirtualLsiLogicController0:1</importKey><url>https://*/nfc/52bb/disk-1.vmdk</url><sslThumbprint>AB:CD:EF</sslThumbprint><disk>true</disk><targetId>disk-1.vmdk</targetId><datastoreKey>ds:///vmfs/volumes/1/</datastoreKey><fileSize>2000000</fileSize></deviceUrl>
<deviceUrl><key>/vm-42/VirtualLsiLogicController0:0</key><importKey>/web/VirtualLsiLogicController0:0</importKey><url>https://*/nfc/52bb/disk-0.vmdk</url><sslThumbprint>AB:CD:EF</sslThumbprint><disk>true</disk><targetId>disk-0.vmdk</targetId><datastoreKey>ds:///vmfs/volumes/1/</datastoreKey><fileSize>1000000</fileSize></deviceUrl>
<totalDiskCapacityInKB>3072</totalDiskCapacityInKB><leaseTimeout>300</leaseTimeout></val></propSet>
<propSet><name>state</name><val xsi:type="HttpNfcLeaseState">ready</val></propSet></objects></returnval>`;

interface Seen {
  method: string;
  body: string;
  soapAction: string | undefined;
}

type Handler = (method: string, body: string, calls: number) => { status?: number; xml: string } | undefined;

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function replay(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const counts = new Map<string, number>();
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const method = /<soapenv:Body><(\w+)/.exec(body)?.[1] ?? '';
      const n = (counts.get(method) ?? 0) + 1;
      counts.set(method, n);
      seen.push({ method, body, soapAction: req.headers.soapaction as string | undefined });
      const common: Record<string, string> = {
        RetrieveServiceContent: ok('RetrieveServiceContent', SERVICE_CONTENT),
        Login: ok('Login', '<returnval><key>52aa</key><userName>admin</userName></returnval>'),
        Logout: ok('Logout', ''),
      };
      const answer = handler(method, body, n) ?? (common[method] ? { xml: common[method] } : undefined);
      const headers: Record<string, string> = { 'content-type': 'text/xml; charset=utf-8' };
      if (method === 'Login') headers['set-cookie'] = 'vmware_soap_session="52aa"; Path=/; HttpOnly; Secure;';
      res.writeHead(answer?.status ?? (answer ? 200 : 500), headers);
      res.end(answer?.xml ?? fault('MethodNotFound', `unexpected ${method}`));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/sdk`, seen };
}

const exportVmHandler =
  (leaseStates: string[]): Handler =>
  (method, body, n) => {
    if (method === 'ExportVm')
      return { xml: ok('ExportVm', '<returnval type="HttpNfcLease">session[52aa]52bb</returnval>') };
    if (method === 'RetrievePropertiesEx' && body.includes('config.hardware.device')) {
      return { xml: ok('RetrievePropertiesEx', DEVICES) };
    }
    if (method === 'RetrievePropertiesEx' && body.includes('type="HttpNfcLease"')) {
      const state = leaseStates[Math.min(n - 2, leaseStates.length - 1)] ?? 'ready';
      if (state === 'ready') return { xml: ok('RetrievePropertiesEx', LEASE_READY) };
      if (state === 'error') {
        return {
          xml: ok(
            'RetrievePropertiesEx',
            `<returnval><objects><obj type="HttpNfcLease">session[52aa]52bb</obj><propSet><name>error</name><val xsi:type="LocalizedMethodFault"><fault xsi:type="FileNotFound"><file>web.vmdk</file></fault><localizedMessage>File web.vmdk was not found</localizedMessage></val></propSet><propSet><name>state</name><val xsi:type="HttpNfcLeaseState">error</val></propSet></objects></returnval>`,
          ),
        };
      }
      return {
        xml: ok(
          'RetrievePropertiesEx',
          `<returnval><objects><obj type="HttpNfcLease">session[52aa]52bb</obj><propSet><name>state</name><val xsi:type="HttpNfcLeaseState">${state}</val></propSet></objects></returnval>`,
        ),
      };
    }
    if (method === 'HttpNfcLeaseProgress') return { xml: ok('HttpNfcLeaseProgress', '') };
    if (method === 'HttpNfcLeaseComplete') return { xml: ok('HttpNfcLeaseComplete', '') };
    if (method === 'HttpNfcLeaseAbort') return { xml: ok('HttpNfcLeaseAbort', '') };
    return undefined;
  };

describe('ExportVm and the HttpNfcLease path', () => {
  it('sends ExportVm for the VM, waits for ready, maps device URLs to disk keys and keeps the lease alive', async () => {
    const { url, seen } = await replay(exportVmHandler(['initializing', 'initializing', 'ready']));
    const provider = await connectVsphere({ url, username: 'admin', password: 'pw-not-logged' });
    const lease = await provider.openExportSession({ kind: 'vm', vmId: 'vm-42' });

    const exportCall = seen.find((s) => s.method === 'ExportVm');
    expect(exportCall?.body).toContain(
      '<ExportVm xmlns="urn:vim25"><_this type="VirtualMachine">vm-42</_this></ExportVm>',
    );
    expect(exportCall?.body).toMatch(/^<\?xml[^>]*\?><soapenv:Envelope [^>]*xmlns:xsi=/);
    expect(exportCall?.soapAction).toBe('urn:vim25/8.0.2.0');
    // Every call after login carries the session cookie (checked on the server side by replay).
    expect(seen.filter((s) => s.method === 'RetrievePropertiesEx').length).toBeGreaterThanOrEqual(4); // devices + 3 polls

    const host = new URL(url).host;
    expect(lease).toEqual({
      id: 'session[52aa]52bb',
      devices: [
        {
          deviceId: '/vm-42/VirtualLsiLogicController0:1',
          diskKey: 2001,
          targetId: 'disk-1.vmdk',
          url: `https://${host}/nfc/52bb/disk-1.vmdk`,
          sizeBytes: 2000000,
          sslThumbprint: 'AB:CD:EF',
          isDisk: true,
        },
        {
          deviceId: '/vm-42/VirtualLsiLogicController0:0',
          diskKey: 2000,
          targetId: 'disk-0.vmdk',
          url: `https://${host}/nfc/52bb/disk-0.vmdk`,
          sizeBytes: 1000000,
          sslThumbprint: 'AB:CD:EF',
          isDisk: true,
        },
      ],
    });
    expect(provider.downloadHeaders()).toEqual({ cookie: 'vmware_soap_session="52aa"' });

    await provider.keepSessionAlive(lease.id, 42.4);
    await provider.releaseSession(lease.id, { completed: true });
    const progress = seen.find((s) => s.method === 'HttpNfcLeaseProgress');
    expect(progress?.body).toContain(
      '<_this type="HttpNfcLease">session[52aa]52bb</_this><percent>42</percent>',
    );
    expect(
      seen.some((s) => s.method === 'HttpNfcLeaseComplete' && s.body.includes('session[52aa]52bb')),
    ).toBe(true);
    // The password went to Login only.
    expect(seen.filter((s) => s.body.includes('pw-not-logged')).map((s) => s.method)).toEqual(['Login']);
    await provider.logout();
  });

  it('fails a lease that goes to error with LeaseError naming the fault, and aborts it', async () => {
    const { url, seen } = await replay(exportVmHandler(['initializing', 'error']));
    const provider = await connectVsphere({ url, username: 'admin', password: 'pw' });
    const err = await provider.openExportSession({ kind: 'vm', vmId: 'vm-42' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(ErrorType.LeaseError);
    expect((err as ApplicationFailure).message).toContain('FileNotFound');
    expect((err as ApplicationFailure).message).toContain('web.vmdk was not found');
    expect(seen.some((s) => s.method === 'HttpNfcLeaseAbort')).toBe(true);
    await provider.logout();
  });

  it('maps RestrictedVersion (free ESXi) on ExportVm to NotSupported, non-retryable', async () => {
    const { url } = await replay((method, body) => {
      if (method === 'ExportVm')
        return {
          status: 500,
          xml: fault(
            'RestrictedVersion',
            'Current license or ESXi version prohibits execution of the requested operation.',
          ),
        };
      if (method === 'RetrievePropertiesEx' && body.includes('config.hardware.device'))
        return { xml: ok('RetrievePropertiesEx', DEVICES) };
      return undefined;
    });
    const provider = await connectVsphere({ url, username: 'admin', password: 'pw' });
    const err = await provider.openExportSession({ kind: 'vm', vmId: 'vm-42' }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe(ErrorType.NotSupported);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toContain('RestrictedVersion');
    await provider.logout();
  });

  it('turns a lease the server no longer knows into LeaseLost', async () => {
    const { url } = await replay((method) =>
      method === 'HttpNfcLeaseProgress' || method === 'HttpNfcLeaseAbort'
        ? { status: 500, xml: fault('ManagedObjectNotFound', 'The object has already been deleted') }
        : undefined,
    );
    const provider = await connectVsphere({ url, username: 'admin', password: 'pw' });
    const err = await provider.keepSessionAlive('session[52aa]52bb', 10).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe(ErrorType.LeaseLost);
    await provider.releaseSession('session[52aa]52bb', { completed: false }); // gone already: cleanup still succeeds
    await provider.logout();
  });
});
