import { describe, expect, it } from 'vitest';
import { parseFault } from './faults.js';
import { mapLeaseDevices, replaceWildcardHost } from './lease.js';
import { readDevices } from './vm.js';
import { arrayItems, envelope, moref, MoRef, Typed, xmlParser, xsiType } from './xml.js';

const parse = (x: string) =>
  xmlParser.parse(`<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">${x}</r>`) as {
    r: Record<string, unknown>;
  };

describe('vim25 XML helpers', () => {
  it('reads a one-element ArrayOf value as an array, and primitives by their lower-case item name', () => {
    const one = parse(
      '<val xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="VirtualMachine">vm-1</ManagedObjectReference></val>',
    ).r.val;
    expect(arrayItems(one).map(moref)).toEqual([new MoRef('VirtualMachine', 'vm-1')]);
    const strings = parse('<val xsi:type="ArrayOfString"><string>a</string><string>007</string></val>').r.val;
    expect(arrayItems(strings)).toEqual(['a', '007']); // never numbers
  });

  it('keeps a moref type and its xsi:type apart', () => {
    const v = parse('<val xsi:type="ManagedObjectReference" type="Folder">group-4</val>').r.val;
    expect(xsiType(v)).toBe('ManagedObjectReference');
    expect(moref(v)).toEqual(new MoRef('Folder', 'group-4'));
  });

  it('writes morefs, typed objects, arrays and escapes text in schema order', () => {
    const xml = envelope('M', {
      _this: new MoRef('PropertyCollector', 'pc'),
      sel: new Typed('TraversalSpec', { name: 'a&b', path: 'view' }),
      pathSet: ['x', 'y'],
      skipped: undefined,
    });
    expect(xml).toContain(
      '<M xmlns="urn:vim25"><_this type="PropertyCollector">pc</_this><sel xsi:type="TraversalSpec"><name>a&amp;b</name><path>view</path></sel><pathSet>x</pathSet><pathSet>y</pathSet></M>',
    );
  });

  it('parses fault names from detail xsi:type, and vcsim "does not implement" as NotImplemented', () => {
    const f = parse(
      '<Fault><faultstring>bad</faultstring><detail><InvalidLoginFault xsi:type="InvalidLogin"></InvalidLoginFault></detail></Fault>',
    ).r.Fault;
    expect(parseFault(f)).toEqual({ name: 'InvalidLogin', message: 'bad' });
    const v = parse(
      '<Fault><faultstring>VirtualMachineSnapshot:snapshot-1 does not implement: ExportSnapshot</faultstring></Fault>',
    ).r.Fault;
    expect(parseFault(v).name).toBe('NotImplemented');
  });

  it('maps vcsim-style lease keys ("/vm-1/disk:N") to disks in device order, and replaces host "*"', () => {
    const devices = parse(
      '<val xsi:type="ArrayOfVirtualDevice">' +
        '<VirtualDevice xsi:type="ParaVirtualSCSIController"><key>202</key><busNumber>0</busNumber></VirtualDevice>' +
        '<VirtualDevice xsi:type="VirtualDisk"><key>204</key><backing><fileName>[ds] v/disk1.vmdk</fileName></backing><controllerKey>202</controllerKey><unitNumber>0</unitNumber><capacityInKB>1</capacityInKB></VirtualDevice>' +
        '<VirtualDevice xsi:type="VirtualDisk"><key>205</key><backing><fileName>[ds] v/disk2.vmdk</fileName></backing><controllerKey>202</controllerKey><unitNumber>1</unitNumber><capacityInKB>1</capacityInKB></VirtualDevice>' +
        '</val>',
    ).r.val;
    const mapped = mapLeaseDevices(
      [
        { key: '/vm-1/disk:1', url: 'https://*/nfc/l/disk2.vmdk', disk: true },
        { key: '/vm-1/disk:0', url: 'https://*:8443/nfc/l/disk1.vmdk', disk: true },
        { key: '/vm-1/cdrom:0', url: 'https://*/nfc/l/x.iso', disk: false },
      ],
      readDevices(devices),
      'vc.example:443',
    );
    expect(mapped.map((d) => [d.diskKey, d.url])).toEqual([
      [205, 'https://vc.example:443/nfc/l/disk2.vmdk'],
      [204, 'https://vc.example:8443/nfc/l/disk1.vmdk'],
      [undefined, 'https://vc.example:443/nfc/l/x.iso'],
    ]);
    expect(replaceWildcardHost('https://esx1/nfc/x', 'vc')).toBe('https://esx1/nfc/x');
  });
});
