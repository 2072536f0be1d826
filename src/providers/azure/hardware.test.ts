import { describe, expect, it } from 'vitest';
import { diskSlot, firmwareOf, guestOf, nicsOf, orderedDisks, powerStateOf, sizeOf } from './hardware.js';

describe('powerStateOf', () => {
  it('is off only when stopped or deallocated', () => {
    const of = (code?: string) => powerStateOf(code ? [{ code: 'ProvisioningState/succeeded' }, { code }] : undefined);
    expect(of('PowerState/deallocated')).toBe('poweredOff');
    expect(of('PowerState/stopped')).toBe('poweredOff');
    for (const code of ['PowerState/running', 'PowerState/starting', 'PowerState/stopping', 'PowerState/deallocating', undefined]) expect(of(code)).toBe('poweredOn');
  });
});

describe('firmwareOf', () => {
  it('is efi for Trusted Launch, confidential VMs, UEFI settings and generation 2; bios otherwise', () => {
    expect(firmwareOf({ securityType: 'TrustedLaunch' })).toBe('efi');
    expect(firmwareOf({ securityType: 'ConfidentialVM' })).toBe('efi');
    expect(firmwareOf({ uefiSettings: { secureBootEnabled: false } })).toBe('efi');
    expect(firmwareOf(undefined, 'V2')).toBe('efi');
    expect(firmwareOf(undefined, undefined, 'V2')).toBe('efi');
    expect(firmwareOf(undefined, 'V1', undefined)).toBe('bios');
    expect(firmwareOf({ encryptionAtHost: true })).toBe('bios');
  });
});

describe('sizeOf', () => {
  const skus = [
    { resourceType: 'virtualMachines', name: 'Standard_D2s_v5', capabilities: [{ name: 'vCPUs', value: '2' }, { name: 'MemoryGB', value: '8' }] },
    { resourceType: 'virtualMachines', name: 'Standard_B1ls', capabilities: [{ name: 'vCPUs', value: '1' }, { name: 'MemoryGB', value: '0.5' }] },
    { resourceType: 'disks', name: 'Standard_D2s_v5', capabilities: [{ name: 'vCPUs', value: '99' }] },
  ];
  it("reads the size's vCPUs and memory (GB → MiB), by name in any case; 0 for an unknown size", () => {
    expect(sizeOf(skus, 'standard_d2s_v5')).toEqual({ numCpu: 2, memoryMb: 8192 });
    expect(sizeOf(skus, 'Standard_B1ls')).toEqual({ numCpu: 1, memoryMb: 512 });
    expect(sizeOf(skus, 'Standard_X')).toEqual({ numCpu: 0, memoryMb: 0 });
  });
});

describe('orderedDisks', () => {
  it('puts the OS disk first, then data disks by LUN, and says why unmanaged or ephemeral disks cannot be exported', () => {
    const disks = orderedDisks({ createOption: 'FromImage', name: 'os', managedDisk: { id: '/d/os' } }, [
      { lun: 2, createOption: 'Attach', name: 'b', managedDisk: { id: '/d/b' } },
      { lun: 0, createOption: 'Attach', name: 'a', managedDisk: { id: '/d/a' } },
      { lun: 1, createOption: 'Attach', name: 'gone', managedDisk: { id: '/d/gone' }, toBeDetached: true },
    ]);
    expect(disks.map((d) => [d.slot, d.managedDiskId])).toEqual([
      ['os', '/d/os'],
      ['lun0', '/d/a'],
      ['lun2', '/d/b'],
    ]);
    expect(orderedDisks({ createOption: 'FromImage', name: 'os', diffDiskSettings: { option: 'Local' } }, [])[0]!.refusal).toMatch(/ephemeral/);
    expect(orderedDisks({ createOption: 'FromImage', name: 'os', vhd: { uri: 'https://acct.blob.core.windows.net/vhds/os.vhd?sig=secret' } }, [])[0]!.refusal).not.toContain('sig=');
  });
});

it('numbers disk slots like the other providers, NICs primary first, and tells Windows from Linux', () => {
  expect([0, 6, 7, 14, 15].map((i) => diskSlot(i, 'pvscsi'))).toEqual([
    { controllerKey: 1000, unitNumber: 0 },
    { controllerKey: 1000, unitNumber: 6 },
    { controllerKey: 1000, unitNumber: 8 },
    { controllerKey: 1000, unitNumber: 15 },
    { controllerKey: 1001, unitNumber: 0 },
  ]);
  expect(nicsOf([{ id: '/x/networkInterfaces/second' }, { id: '/x/networkInterfaces/first', primary: true }]).map((n) => n.label)).toEqual(['first', 'second']);
  expect(guestOf('Windows', undefined).guestId).toBe('windows9Server64Guest');
  expect(guestOf('Linux', { publisher: 'Canonical', offer: 'ubuntu', sku: '24_04' })).toEqual({ guestId: 'otherLinux64Guest', guestFullName: 'Canonical ubuntu 24_04' });
});
