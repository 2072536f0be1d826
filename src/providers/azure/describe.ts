// A VM reference → the neutral VM description, through Resource Manager: the VM
// with its instance view (power state), its size's vCPUs and memory (the
// location's resource SKUs, asked once per location), its managed disks (each
// disk's GET gives its exact size) in the order OS disk, data disks by LUN, its
// NICs with their MAC addresses (network.ts). listVms: the VMs of the resource group, or of the whole subscription.
import type { ComputeManagementClient, Disk, ResourceSku, VirtualMachine } from '@azure/arm-compute';
import { ErrorType } from '../../core/errors.js';
import type { DiskDescription, VmDescription, VmSummary } from '../../core/vm-description.js';
import { azureCall, failure } from './errors.js';
import { controllerTypeOf, diskSlot, firmwareOf, guestOf, nicsOf, orderedDisks, powerStateOf, sizeOf } from './hardware.js';
import { parseComputeId, vmRefOf, type ResourceId } from './ids.js';
import type { NicDetails, NicReader } from './network.js';

const GiB = 2 ** 30;
/** VM GETs in flight at once when listing (each asks for its instance view). */
const LIST_CONCURRENCY = 8;

export class AzureInventory {
  private readonly skus = new Map<string, Promise<ResourceSku[]>>();

  constructor(
    readonly client: ComputeManagementClient,
    readonly subscriptionId: string,
    readonly resourceGroup: string | undefined,
    /** Absent: NICs are described without MAC addresses. */
    private readonly nics?: NicReader,
  ) {}

  /** The MAC address and network of each NIC that could be read, by lower-cased NIC id. */
  async nicDetails(interfaces: readonly { id?: string }[] | undefined): Promise<Map<string, NicDetails>> {
    const reader = this.nics;
    if (!reader) return new Map();
    const ids = (interfaces ?? []).flatMap((n) => (n.id ? [n.id] : []));
    const read = await Promise.all(ids.map(async (id) => [id.toLowerCase(), await reader.read(id)] as const));
    return new Map(read.flatMap(([id, details]) => (details ? [[id, details] as const] : [])));
  }

  /** The VM a reference names (resource id, or name in the source's resource group). */
  ref(ref: string): ResourceId {
    return vmRefOf(ref, this.subscriptionId, this.resourceGroup);
  }

  vm(id: ResourceId, instanceView = true): Promise<VirtualMachine> {
    return azureCall({ action: 'Microsoft.Compute/virtualMachines/read', subject: `VM "${id.name}" in resource group ${id.resourceGroup}` }, () =>
      this.client.virtualMachines.get(id.resourceGroup, id.name, instanceView ? { expand: 'instanceView' } : {}),
    );
  }

  disk(diskId: string): Promise<Disk> {
    const id = parseComputeId(diskId);
    if (!id) return Promise.reject(failure(ErrorType.InvalidInput, `Azure: "${diskId}" is not a managed disk id`, true));
    return azureCall({ action: 'Microsoft.Compute/disks/read', subject: `managed disk "${id.name}" in resource group ${id.resourceGroup}` }, () =>
      this.client.disks.get(id.resourceGroup, id.name),
    );
  }

  /** The location's VM sizes (resource SKUs), asked once per location; a failed answer is asked again next time. */
  locationSkus(location: string): Promise<ResourceSku[]> {
    const key = location.toLowerCase();
    let skus = this.skus.get(key);
    if (!skus) {
      skus = azureCall({ action: 'Microsoft.Compute/skus/read', subject: `the VM sizes of ${location}` }, async () => {
        const all: ResourceSku[] = [];
        for await (const sku of this.client.resourceSkus.list({ filter: `location eq '${location}'` })) {
          if (sku.resourceType?.toLowerCase() === 'virtualmachines') all.push(sku);
        }
        return all;
      });
      this.skus.set(key, skus);
      skus.catch(() => this.skus.delete(key));
    }
    return skus;
  }

  async allVms(): Promise<VirtualMachine[]> {
    const subject = this.resourceGroup ? `the VMs of resource group ${this.resourceGroup}` : `the VMs of subscription ${this.subscriptionId}`;
    return azureCall({ action: 'Microsoft.Compute/virtualMachines/read', subject }, async () => {
      const vms: VirtualMachine[] = [];
      const pages = this.resourceGroup ? this.client.virtualMachines.list(this.resourceGroup) : this.client.virtualMachines.listAll();
      for await (const vm of pages) vms.push(vm);
      return vms;
    });
  }
}

/** The VM's own id parts (from its resource id as Azure returns it). */
function idOf(vm: VirtualMachine, fallback: ResourceId): ResourceId {
  return (vm.id ? parseComputeId(vm.id) : undefined) ?? fallback;
}

async function summaryOf(inv: AzureInventory, vm: VirtualMachine, id: ResourceId, storageBytes: number): Promise<VmSummary> {
  const skus = vm.location ? await inv.locationSkus(vm.location) : [];
  const size = sizeOf(skus, vm.hardwareProfile?.vmSize);
  const cpus = vm.hardwareProfile?.vmSizeProperties?.vCPUsAvailable;
  return {
    id: vm.id ?? '',
    name: vm.name ?? id.name,
    path: vm.id ?? '',
    powerState: powerStateOf(vm.instanceView?.statuses),
    ...guestOf(vm.storageProfile?.osDisk?.osType, vm.storageProfile?.imageReference, vm.instanceView?.osName, vm.instanceView?.osVersion),
    numCpu: cpus ?? size.numCpu,
    memoryMb: size.memoryMb,
    storageBytes,
  };
}

export async function describeRef(inv: AzureInventory, ref: string): Promise<VmDescription> {
  const wanted = inv.ref(ref);
  const vm = await inv.vm(wanted);
  const id = idOf(vm, wanted);
  const layout = orderedDisks(vm.storageProfile?.osDisk, vm.storageProfile?.dataDisks);
  const refused = layout.find((d) => d.refusal);
  if (refused) throw failure(ErrorType.NotSupported, `Azure: VM ${id.name}: ${refused.refusal}`, true);
  const managed = await Promise.all(layout.map((d) => inv.disk(d.managedDiskId!)));
  const controllerType = controllerTypeOf(vm.storageProfile?.diskControllerType);
  const disks = managed.map((disk, i): DiskDescription => {
    const slot = layout[i]!;
    const capacityBytes = disk.diskSizeBytes ?? (disk.diskSizeGB ?? 0) * GiB;
    return {
      key: i,
      label: `${slot.slot === 'os' ? 'OS disk' : `data disk LUN ${slot.slot.slice(3)}`} ${disk.name ?? slot.name}`,
      capacityBytes,
      backingFile: disk.id ?? slot.managedDiskId!,
      datastore: disk.location ?? vm.location ?? '',
      thin: true,
      ...diskSlot(i, controllerType),
      controllerType,
      backingType: `azure:${disk.sku?.name ?? 'managed-disk'}`,
    };
  });
  const [summary, nicDetails] = await Promise.all([
    summaryOf(inv, vm, id, disks.reduce((sum, d) => sum + d.capacityBytes, 0)),
    inv.nicDetails(vm.networkProfile?.networkInterfaces),
  ]);
  return {
    ...summary,
    provider: 'azure',
    instanceUuid: vm.vmId ?? '',
    biosUuid: '',
    firmware: firmwareOf(vm.securityProfile, managed[0]?.hyperVGeneration, vm.instanceView?.hyperVGeneration),
    hasSnapshots: false,
    datacenter: vm.location ?? '',
    disks,
    nics: nicsOf(vm.networkProfile?.networkInterfaces, nicDetails),
    cdroms: [],
  };
}

/**
 * Every VM of the resource group (or subscription) as a summary line: the list,
 * then each VM's instance view for its power state; storage is the sum of the
 * disk sizes the VM model states (whole GiB).
 */
export async function listVms(inv: AzureInventory): Promise<VmSummary[]> {
  const vms = await inv.allVms();
  const out: VmSummary[] = new Array<VmSummary>(vms.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < vms.length) {
      const i = next++;
      const listed = vms[i]!;
      const id = listed.id ? parseComputeId(listed.id) : undefined;
      if (!id) continue;
      const vm = await inv.vm(id).catch((err: unknown) => {
        // Deleted since it was listed: not listed.
        if ((err as { type?: string }).type === ErrorType.VmNotFound) return undefined;
        throw err;
      });
      if (!vm) continue;
      const p = vm.storageProfile;
      const storage = [p?.osDisk?.diskSizeGB, ...(p?.dataDisks ?? []).map((d) => d.diskSizeGB)].reduce<number>((sum, gb) => sum + (gb ?? 0) * GiB, 0);
      out[i] = await summaryOf(inv, vm, id, storage);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, vms.length) }, worker));
  return out.filter((s) => s !== undefined);
}
