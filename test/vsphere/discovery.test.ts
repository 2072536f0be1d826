// Discovery against the harness vcsim, checked field by field against govc, an
// independent client reading the same inventory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmDescription } from '../../src/core/vm-description.js';
import type { VsphereProvider } from '../../src/providers/vsphere/index.js';
import { connect, createVm, parseJsonStream, runGovc, uniqueName } from './helpers.js';

const PROPS = [
  'name',
  'config.uuid',
  'config.instanceUuid',
  'config.guestId',
  'config.guestFullName',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
  'config.hardware.device',
  'config.firmware',
  'runtime.powerState',
  'rootSnapshot',
];

interface GovcDevice {
  key: number;
  deviceInfo?: { label?: string };
  backing?: { fileName?: string; thinProvisioned?: boolean; deviceName?: string };
  capacityInBytes?: number;
  capacityInKB?: number;
  controllerKey?: number;
  unitNumber?: number;
  macAddress?: string;
}

interface Expected {
  id: string;
  path: string;
  fields: Record<string, unknown>;
}

/** What govc says about every VM, in the shape of our VmDescription (the parts govc can tell). */
async function govcInventory(): Promise<Map<string, Expected>> {
  const paths = (await runGovc(['find', '/', '-type', 'm'])).trim().split('\n').filter(Boolean);
  const ids = (await runGovc(['ls', '-i', ...paths])).trim().split('\n');
  const pathById = new Map(ids.map((ref, i) => [ref.replace(/^VirtualMachine:/, ''), paths[i] ?? '']));
  const objects = parseJsonStream<{ obj: { value: string }; changeSet: { name: string; val: unknown }[] }>(
    await runGovc(['object.collect', '-json', '-type', 'm', '/', ...PROPS]),
  );
  const out = new Map<string, Expected>();
  for (const o of objects) {
    const p = new Map(o.changeSet.map((c) => [c.name, c.val]));
    const devices = (p.get('config.hardware.device') as { _value?: GovcDevice[] } | undefined)?._value ?? [];
    const disks = devices
      .filter((d) => d.backing?.fileName?.endsWith('.vmdk') && d.capacityInKB !== undefined)
      .map((d) => ({
        key: d.key,
        label: d.deviceInfo?.label ?? '',
        capacityBytes: d.capacityInBytes ?? (d.capacityInKB ?? 0) * 1024,
        backingFile: d.backing?.fileName ?? '',
        datastore: /^\[([^\]]+)\]/.exec(d.backing?.fileName ?? '')?.[1] ?? '',
        thin: d.backing?.thinProvisioned ?? false,
        controllerKey: d.controllerKey,
        unitNumber: d.unitNumber,
      }));
    const nics = devices
      .filter((d) => d.macAddress !== undefined)
      .map((d) => ({ key: d.key, macAddress: d.macAddress }));
    const rootSnapshot = (p.get('rootSnapshot') as { _value?: unknown[] | null } | undefined)?._value ?? [];
    out.set(o.obj.value, {
      id: o.obj.value,
      path: pathById.get(o.obj.value) ?? '',
      fields: {
        name: p.get('name'),
        biosUuid: p.get('config.uuid'),
        instanceUuid: p.get('config.instanceUuid'),
        guestId: p.get('config.guestId'),
        guestFullName: p.get('config.guestFullName'),
        numCpu: p.get('config.hardware.numCPU'),
        memoryMb: p.get('config.hardware.memoryMB'),
        firmware: p.get('config.firmware'),
        powerState: p.get('runtime.powerState'),
        hasSnapshots: rootSnapshot.length > 0,
        storageBytes: disks.reduce((s, d) => s + d.capacityBytes, 0),
        disks,
        nics,
      },
    });
  }
  return out;
}

function ours(vm: VmDescription): Record<string, unknown> {
  return {
    name: vm.name,
    biosUuid: vm.biosUuid,
    instanceUuid: vm.instanceUuid,
    guestId: vm.guestId,
    guestFullName: vm.guestFullName,
    numCpu: vm.numCpu,
    memoryMb: vm.memoryMb,
    firmware: vm.firmware,
    powerState: vm.powerState,
    hasSnapshots: vm.hasSnapshots,
    storageBytes: vm.storageBytes,
    disks: vm.disks.map((d) => ({
      key: d.key,
      label: d.label,
      capacityBytes: d.capacityBytes,
      backingFile: d.backingFile,
      datastore: d.datastore,
      thin: d.thin,
      controllerKey: d.controllerKey,
      unitNumber: d.unitNumber,
    })),
    nics: vm.nics.map((n) => ({ key: n.key, macAddress: n.macAddress })),
  };
}

describe('vSphere discovery', () => {
  let provider: VsphereProvider;
  const nestedName = uniqueName('vsphere-disc-nested');
  let nestedPath = '';

  beforeAll(async () => {
    // A VM two folders deep, with EFI and a vmxnet3 NIC, so paths and those fields are exercised.
    nestedPath = await createVm(nestedName, {
      folder: `/DC0/vm/${uniqueName('vsphere-f1')}/inner`,
      firmware: 'efi',
    });
    provider = await connect();
  });
  afterAll(async () => {
    await runGovc(['vm.destroy', nestedPath]).catch(() => undefined);
    await provider?.logout();
  });

  it('returns every VM with the same fields govc reads from the same vcsim', async () => {
    // Other test files change the shared vcsim in parallel: compare the VMs govc saw
    // unchanged before and after our listing.
    const before = await govcInventory();
    const vms = await provider.discoverVms();
    const after = await govcInventory();
    const stable = [...before.values()].filter((e) => JSON.stringify(e) === JSON.stringify(after.get(e.id)));
    expect(stable.length).toBeGreaterThanOrEqual(5);
    const byId = new Map(vms.map((vm) => [vm.id, vm]));
    for (const expected of stable) {
      const vm = byId.get(expected.id);
      expect(vm, `VM ${expected.path} missing from our listing`).toBeDefined();
      if (!vm) continue;
      expect(vm.path).toBe(expected.path);
      expect(ours(vm)).toEqual(expected.fields);
      expect(vm.datacenter).toBe('DC0');
    }
    for (const vm of vms)
      expect(before.has(vm.id) || after.has(vm.id), `${vm.path} unknown to govc`).toBe(true);
  });

  it('lists summaries with paths right for nested folders, and device types govc names', async () => {
    const summaries = await provider.listVms();
    const nested = summaries.find((s) => s.name === nestedName);
    expect(nested?.path).toBe(nestedPath);
    expect(nested?.path.split('/').length).toBe(6); // "", DC0, vm, f1, inner, name

    const full = await provider.describeVm(nestedPath);
    expect(full.firmware).toBe('efi');
    expect(full.nics.map((n) => [n.adapterType, n.network])).toEqual([['vmxnet3', 'VM Network']]);
    // Controller and CD-ROM types as govc device.ls names them ("pvscsi-202", "cdrom-203").
    const listing = JSON.parse(await runGovc(['device.ls', '-json', '-vm', nestedPath])) as {
      devices: { name: string; type: string }[];
    };
    const typeByKey = new Map(listing.devices.map((d) => [Number(/-(\d+)$/.exec(d.name)?.[1]), d.type]));
    const shortType: Record<string, string> = {
      ParaVirtualSCSIController: 'pvscsi',
      VirtualLsiLogicController: 'lsilogic',
      VirtualLsiLogicSASController: 'lsilogic-sas',
      VirtualIDEController: 'ide',
      VirtualAHCIController: 'sata',
      VirtualNVMEController: 'nvme',
      VirtualBusLogicController: 'buslogic',
    };
    expect(full.disks.length).toBe(1);
    for (const d of full.disks)
      expect(d.controllerType).toBe(shortType[typeByKey.get(d.controllerKey) ?? '']);
    const cdromKeys = listing.devices
      .filter((d) => d.type === 'VirtualCdrom')
      .map((d) => Number(/-(\d+)$/.exec(d.name)?.[1]));
    expect(full.cdroms.map((c) => c.key).sort()).toEqual(cdromKeys.sort());
  });
});
