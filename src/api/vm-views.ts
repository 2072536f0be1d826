// The REST shapes of VMs (snake_case), shared by the gateway and hyperexport's
// standalone mode so both show the same fields.
import type { VmDescription, VmSummary } from '../core/vm-description.js';

/** One VM as GET /vms/list returns it. */
export function vmSummaryView(vm: VmSummary) {
  return {
    id: vm.id,
    name: vm.name,
    path: vm.path,
    power_state: vm.powerState,
    guest_os: vm.guestFullName,
    guest_id: vm.guestId,
    memory_mb: vm.memoryMb,
    num_cpu: vm.numCpu,
    storage_bytes: vm.storageBytes,
  };
}

/** One VM as POST /vms/info returns it. */
export function vmDescriptionView(vm: VmDescription) {
  return {
    ...vmSummaryView(vm),
    provider: vm.provider,
    instance_uuid: vm.instanceUuid,
    bios_uuid: vm.biosUuid,
    firmware: vm.firmware,
    has_snapshots: vm.hasSnapshots,
    datacenter: vm.datacenter,
    disks: vm.disks.map((d) => ({
      key: d.key,
      label: d.label,
      capacity_bytes: d.capacityBytes,
      backing_file: d.backingFile,
      datastore: d.datastore,
      thin: d.thin,
      controller_type: d.controllerType,
      unit_number: d.unitNumber,
    })),
    nics: vm.nics.map((n) => ({ key: n.key, label: n.label, mac_address: n.macAddress, network: n.network, adapter_type: n.adapterType })),
    cdroms: vm.cdroms.map((c) => ({ key: c.key, label: c.label, ...(c.isoFile ? { iso_file: c.isoFile } : {}) })),
  };
}

/** One VM with exactly the keys of the original daemon's VMInfo (its /vms/info `vm_info`). */
export function vmInfoView(vm: VmSummary) {
  return {
    name: vm.name,
    path: vm.path,
    power_state: vm.powerState,
    guest_os: vm.guestFullName,
    memory_mb: vm.memoryMb,
    num_cpu: vm.numCpu,
    storage_bytes: vm.storageBytes,
  };
}
