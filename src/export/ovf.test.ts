import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { VmDescription } from '../core/vm-description.js';
import { generateManifest, generateOvf, parseManifest } from './ovf.js';

const vm: VmDescription = {
  provider: 'vsphere',
  id: 'vm-42',
  name: 'web <01> & co',
  path: '/DC0/vm/web',
  powerState: 'poweredOff',
  guestId: 'ubuntu64Guest',
  guestFullName: 'Ubuntu Linux (64-bit)',
  numCpu: 4,
  memoryMb: 8192,
  storageBytes: 3 * 2 ** 30,
  instanceUuid: 'i-uuid',
  biosUuid: '4210aa5e-0000-4000-8000-000000000042',
  firmware: 'efi',
  hasSnapshots: false,
  datacenter: 'DC0',
  disks: [
    { key: 2000, label: 'Hard disk 1', capacityBytes: 2 ** 30, backingFile: '[ds] web/web.vmdk', datastore: 'ds', thin: true, controllerKey: 1000, controllerType: 'pvscsi', unitNumber: 0 },
    { key: 2001, label: 'Hard disk 2', capacityBytes: 2 * 2 ** 30, backingFile: '[ds] web/web_1.vmdk', datastore: 'ds', thin: false, controllerKey: 1000, controllerType: 'pvscsi', unitNumber: 1 },
  ],
  nics: [{ key: 4000, label: 'Network adapter 1', macAddress: '00:50:56:00:00:01', network: 'VM Network', adapterType: 'vmxnet3' }],
  cdroms: [{ key: 3000, label: 'CD/DVD drive 1', isoFile: '[ds] iso/x.iso' }],
};
const files = [
  { diskKey: 2000, fileName: 'web-disk1.vmdk', sizeBytes: 123 },
  { diskKey: 2001, fileName: 'web-disk2.vmdk', sizeBytes: 456 },
];

const parse = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => ['Item', 'File', 'Disk'].includes(n) }).parse(xml) as {
    Envelope: {
      References: { File: Record<string, string>[] };
      DiskSection: { Disk: Record<string, string>[] };
      VirtualSystem: { Name: string; VirtualHardwareSection: { Item: Record<string, unknown>[] } };
    };
  };

describe('generateOvf', () => {
  it('describes every disk, its file, CPUs, memory, NICs and firmware', () => {
    const ovf = parse(generateOvf(vm, files, { removeCdrom: false, diskFormat: 'streamOptimized' })).Envelope;
    expect(ovf.References.File.map((f) => [f['@ovf:href'], f['@ovf:size']])).toEqual([
      ['web-disk1.vmdk', '123'],
      ['web-disk2.vmdk', '456'],
    ]);
    expect(ovf.DiskSection.Disk.map((d) => d['@ovf:capacity'])).toEqual([String(2 ** 30), String(2 * 2 ** 30)]);
    expect(ovf.DiskSection.Disk[0]!['@ovf:format']).toMatch(/#streamOptimized$/);
    expect(ovf.VirtualSystem.Name).toBe('web <01> & co');
    const items = ovf.VirtualSystem.VirtualHardwareSection.Item;
    const byType = (t: number) => items.filter((i) => i['rasd:ResourceType'] === t);
    expect(byType(3)[0]!['rasd:VirtualQuantity']).toBe(4);
    expect(byType(4)[0]!['rasd:VirtualQuantity']).toBe(8192);
    expect(byType(6)).toHaveLength(1); // both disks share one pvscsi controller
    expect(byType(17).map((i) => i['rasd:HostResource'])).toEqual(['ovf:/disk/vmdisk1', 'ovf:/disk/vmdisk2']);
    expect(byType(17).every((i) => i['rasd:Parent'] === byType(6)[0]!['rasd:InstanceID'])).toBe(true);
    expect(byType(10)[0]!['rasd:Connection']).toBe('VM Network');
    expect(byType(10)[0]!['rasd:Address']).toBe('00:50:56:00:00:01');
    expect(byType(15)).toHaveLength(1);
  });

  it('leaves the MAC out of a NIC whose source has none', () => {
    const noMac = { ...vm, nics: [{ ...vm.nics[0]!, macAddress: '' }] };
    const items = parse(generateOvf(noMac, files, { removeCdrom: false, diskFormat: 'streamOptimized' })).Envelope.VirtualSystem.VirtualHardwareSection.Item;
    const nic = items.find((i) => i['rasd:ResourceType'] === 10)!;
    expect(nic['rasd:Connection']).toBe('VM Network');
    expect(nic).not.toHaveProperty('rasd:Address');
  });

  it('declares each disk\'s own format when the disks of one export were read different ways', () => {
    const mixed = [
      { ...files[0]!, diskFormat: 'flat' as const },
      { ...files[1]!, diskFormat: 'streamOptimized' as const },
    ];
    const ovf = parse(generateOvf(vm, mixed, { removeCdrom: false, diskFormat: 'streamOptimized' })).Envelope;
    expect(ovf.DiskSection.Disk.map((d) => d['@ovf:format'])).toEqual([
      'http://www.vmware.com/interfaces/specifications/vmdk.html#monolithicFlat',
      'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
    ]);
  });

  it('drops CD-ROMs when remove_cdrom is set and marks flat disks', () => {
    const xml = generateOvf(vm, files, { removeCdrom: true, diskFormat: 'flat' });
    const items = parse(xml).Envelope.VirtualSystem.VirtualHardwareSection.Item;
    expect(items.filter((i) => i['rasd:ResourceType'] === 15)).toHaveLength(0);
    expect(xml).toContain('#monolithicFlat');
    expect(xml).toContain('vmw:value="efi"');
  });

  it('refuses a disk without an exported file', () => {
    expect(() => generateOvf(vm, files.slice(0, 1), { removeCdrom: false, diskFormat: 'flat' })).toThrow(/Hard disk 2/);
  });
});

describe('manifest', () => {
  it('round-trips SHA256 lines', () => {
    const entries = [
      { name: 'a.ovf', sha256: 'a'.repeat(64) },
      { name: 'a-disk1.vmdk', sha256: '0123456789abcdef'.repeat(4) },
    ];
    const text = generateManifest(entries);
    expect(text).toBe(`SHA256(a.ovf)= ${'a'.repeat(64)}\nSHA256(a-disk1.vmdk)= ${'0123456789abcdef'.repeat(4)}\n`);
    expect([...parseManifest(text)]).toEqual(entries.map((e) => [e.name, e.sha256]));
  });
});
