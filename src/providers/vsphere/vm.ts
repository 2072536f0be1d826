// VirtualMachine properties (as parsed XML) -> the provider-neutral VmDescription.
import type { CdromDescription, DiskDescription, NicDescription, PowerState, VmDescription } from '../../core/vm-description.js';
import type { InventoryTree } from './inventory.js';
import { arrayItems, bool, isObject, num, optMoref, optText, text, xsiType } from './xml.js';

/** Everything discovery and describe read, in one RetrievePropertiesEx. */
export const VM_PROPERTIES = [
  'name',
  'parent',
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

const CONTROLLER_TYPES: Record<string, string> = {
  VirtualLsiLogicController: 'lsilogic',
  VirtualLsiLogicSASController: 'lsilogic-sas',
  ParaVirtualSCSIController: 'pvscsi',
  VirtualBusLogicController: 'buslogic',
  VirtualIDEController: 'ide',
  VirtualAHCIController: 'sata',
  VirtualSATAController: 'sata',
  VirtualNVMEController: 'nvme',
};

const NIC_TYPES: Record<string, string> = {
  VirtualVmxnet3: 'vmxnet3',
  VirtualVmxnet3Vrdma: 'vmxnet3',
  VirtualVmxnet2: 'vmxnet2',
  VirtualVmxnet: 'vmxnet',
  VirtualE1000: 'e1000',
  VirtualE1000e: 'e1000e',
  VirtualPCNet32: 'pcnet32',
  VirtualSriovEthernetCard: 'sriov',
};

export interface ControllerInfo {
  key: number;
  /** vim25 type, e.g. "VirtualLsiLogicController" (lease device keys use it). */
  vimType: string;
  /** Short name, e.g. "lsilogic". */
  type: string;
  busNumber: number;
}

export interface DeviceInventory {
  controllers: Map<number, ControllerInfo>;
  disks: DiskDescription[];
  nics: NicDescription[];
  cdroms: CdromDescription[];
}

/** Splits "[LocalDS_0] dir/disk.vmdk" into datastore and path. */
export function parseDatastorePath(file: string): { datastore: string; path: string } {
  const m = /^\[([^\]]*)\]\s*(.*)$/.exec(file);
  return m ? { datastore: m[1] ?? '', path: m[2] ?? '' } : { datastore: '', path: file };
}

export function readDevices(
  devicesValue: unknown,
  networkNames?: ReadonlyMap<string, string>,
): DeviceInventory {
  const inv: DeviceInventory = { controllers: new Map(), disks: [], nics: [], cdroms: [] };
  const devices = arrayItems(devicesValue).filter(isObject);
  for (const d of devices) {
    const type = xsiType(d) ?? '';
    const controllerType = CONTROLLER_TYPES[type];
    if (controllerType) {
      const key = num(d.key);
      inv.controllers.set(key, { key, vimType: type, type: controllerType, busNumber: num(d.busNumber) });
    }
  }
  for (const d of devices) {
    const type = xsiType(d) ?? '';
    const label = isObject(d.deviceInfo) ? text(d.deviceInfo.label) : '';
    const backing = isObject(d.backing) ? d.backing : undefined;
    if (type === 'VirtualDisk') {
      const file = text(backing?.fileName);
      const capacityBytes =
        d.capacityInBytes !== undefined ? num(d.capacityInBytes) : num(d.capacityInKB) * 1024;
      const controllerKey = num(d.controllerKey);
      inv.disks.push({
        key: num(d.key),
        label,
        capacityBytes,
        backingFile: file,
        datastore: parseDatastorePath(file).datastore,
        thin: bool(backing?.thinProvisioned),
        controllerKey,
        controllerType: inv.controllers.get(controllerKey)?.type ?? 'unknown',
        unitNumber: num(d.unitNumber),
        ...(xsiType(backing) ? { backingType: xsiType(backing)! } : {}),
        ...(parentFile(backing) ? { backingParent: parentFile(backing)! } : {}),
      });
    } else if (NIC_TYPES[type] !== undefined || d.macAddress !== undefined) {
      inv.nics.push({
        key: num(d.key),
        label,
        macAddress: text(d.macAddress),
        network: nicNetwork(backing, networkNames),
        adapterType: NIC_TYPES[type] ?? type,
      });
    } else if (type === 'VirtualCdrom') {
      const iso = xsiType(backing) === 'VirtualCdromIsoBackingInfo' ? optText(backing?.fileName) : undefined;
      inv.cdroms.push({ key: num(d.key), label, ...(iso ? { isoFile: iso } : {}) });
    }
  }
  return inv;
}

/** The file of a disk backing's parent (VirtualDiskFlatVer2BackingInfo.parent etc.), if it has one. */
function parentFile(backing: Record<string, unknown> | undefined): string | undefined {
  const parent = backing?.parent;
  return isObject(parent) ? optText(parent.fileName) || xsiType(parent) || 'parent' : undefined;
}

function nicNetwork(
  backing: Record<string, unknown> | undefined,
  names?: ReadonlyMap<string, string>,
): string {
  if (!backing) return '';
  if (backing.deviceName !== undefined) return text(backing.deviceName); // standard portgroup
  const port = backing.port;
  if (isObject(port)) {
    const key = text(port.portgroupKey); // distributed portgroup: key is its moref value
    return names?.get(key) ?? key;
  }
  if (backing.opaqueNetworkId !== undefined) return text(backing.opaqueNetworkId);
  const network = optMoref(backing.network);
  return network ? (names?.get(network.value) ?? network.value) : '';
}

function powerState(value: unknown): PowerState {
  const s = text(value);
  return s === 'poweredOn' || s === 'suspended' ? s : 'poweredOff';
}

/** One VM's properties -> VmDescription (paths and network names from the inventory tree). */
export function toVmDescription(
  id: string,
  props: ReadonlyMap<string, unknown>,
  tree: InventoryTree,
): VmDescription {
  const name = text(props.get('name'));
  const parent = optMoref(props.get('parent'));
  const devices = readDevices(props.get('config.hardware.device'), tree.networkNames);
  return {
    provider: 'vsphere',
    id,
    name,
    path: tree.pathOf(name, parent),
    powerState: powerState(props.get('runtime.powerState')),
    guestId: text(props.get('config.guestId')),
    guestFullName: text(props.get('config.guestFullName')),
    numCpu: num(props.get('config.hardware.numCPU')),
    memoryMb: num(props.get('config.hardware.memoryMB')),
    storageBytes: devices.disks.reduce((sum, d) => sum + d.capacityBytes, 0),
    instanceUuid: text(props.get('config.instanceUuid')),
    biosUuid: text(props.get('config.uuid')),
    firmware: text(props.get('config.firmware')) === 'efi' ? 'efi' : 'bios',
    hasSnapshots: arrayItems(props.get('rootSnapshot')).length > 0,
    datacenter: tree.datacenterOf(parent),
    disks: devices.disks,
    nics: devices.nics,
    cdroms: devices.cdroms,
  };
}
