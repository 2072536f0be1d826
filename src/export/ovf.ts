// Generates an OVF 1.0 descriptor from a VM description. We generate it ourselves
// rather than calling OvfManager.CreateDescriptor because that is not available
// everywhere (vcsim lacks it) and because options such as remove_cdrom must shape it.
// Pure: used by the finalize activity and unit-tested on its own.
import type { DiskDescription, VmDescription } from '../core/vm-description.js';

export interface OvfDiskFile {
  diskKey: number;
  fileName: string;
  sizeBytes: number;
  /** This disk's format, when the disks of one export were read different ways (else options.diskFormat). */
  diskFormat?: OvfOptions['diskFormat'];
}

export interface OvfOptions {
  removeCdrom: boolean;
  /**
   * What the disk files hold: NFC exports deliver streamOptimized VMDKs; datastore
   * downloads deliver the flat extent (raw) bytes.
   */
  diskFormat: 'streamOptimized' | 'flat' | 'raw' | 'qcow2' | 'vhd';
}

/**
 * Raw and qcow2 have no VMware URI: QEMU's own documentation of the format stands
 * for it. A VHD is named by Microsoft's specification of the format.
 */
const DISK_FORMAT_URI = {
  streamOptimized: 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
  flat: 'http://www.vmware.com/interfaces/specifications/vmdk.html#monolithicFlat',
  raw: 'https://www.qemu.org/docs/master/system/qemu-block-drivers.html#disk-image-file-formats',
  qcow2: 'https://www.qemu.org/docs/master/interop/qcow2.html',
  vhd: 'https://www.microsoft.com/en-us/download/details.aspx?id=23850',
} as const;

const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

// CIM ResourceType / ResourceSubType for each controller family.
const controllerResource: Record<string, { type: number; subType?: string }> = {
  lsilogic: { type: 6, subType: 'lsilogic' },
  lsilogicsas: { type: 6, subType: 'lsilogicsas' },
  buslogic: { type: 6, subType: 'buslogic' },
  pvscsi: { type: 6, subType: 'VirtualSCSI' },
  ide: { type: 5 },
  sata: { type: 20, subType: 'vmware.sata.ahci' },
  nvme: { type: 20, subType: 'vmware.nvme.controller' },
};

export function generateOvf(vm: VmDescription, disks: OvfDiskFile[], options: OvfOptions): string {
  let instanceId = 1;
  const nextId = () => instanceId++;
  const items: string[] = [];
  const item = (fields: Record<string, string | number | undefined>) => {
    const body = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `        <rasd:${k}>${xmlEscape(String(v))}</rasd:${k}>`)
      .join('\n');
    items.push(`      <Item>\n${body}\n      </Item>`);
  };

  item({
    AllocationUnits: 'hertz * 10^6',
    Description: 'Number of Virtual CPUs',
    ElementName: `${vm.numCpu} virtual CPU(s)`,
    InstanceID: nextId(),
    ResourceType: 3,
    VirtualQuantity: vm.numCpu,
  });
  item({
    AllocationUnits: 'byte * 2^20',
    Description: 'Memory Size',
    ElementName: `${vm.memoryMb}MB of memory`,
    InstanceID: nextId(),
    ResourceType: 4,
    VirtualQuantity: vm.memoryMb,
  });

  // Controllers used by disks (and by CD-ROMs, which sit on IDE in this model).
  const controllerIds = new Map<number, number>();
  const controllerOf = (d: DiskDescription) => controllerResource[d.controllerType] ?? controllerResource.lsilogic!;
  let busNumber = 0;
  for (const d of [...vm.disks].sort((a, b) => a.controllerKey - b.controllerKey)) {
    if (controllerIds.has(d.controllerKey)) continue;
    const id = nextId();
    controllerIds.set(d.controllerKey, id);
    const res = controllerOf(d);
    item({
      Address: busNumber++,
      Description: `${d.controllerType} controller`,
      ElementName: `${d.controllerType}Controller${controllerIds.size - 1}`,
      InstanceID: id,
      ResourceSubType: res.subType,
      ResourceType: res.type,
    });
  }

  const fileRefs: string[] = [];
  const diskSection: string[] = [];
  vm.disks.forEach((d, i) => {
    const file = disks.find((f) => f.diskKey === d.key);
    if (!file) throw new Error(`no exported file for disk ${d.label} (key ${d.key})`);
    const fileId = `file${i + 1}`;
    const diskId = `vmdisk${i + 1}`;
    fileRefs.push(`    <File ovf:href="${xmlEscape(file.fileName)}" ovf:id="${fileId}" ovf:size="${file.sizeBytes}"/>`);
    diskSection.push(
      `    <Disk ovf:capacity="${d.capacityBytes}" ovf:capacityAllocationUnits="byte" ovf:diskId="${diskId}" ovf:fileRef="${fileId}" ovf:format="${DISK_FORMAT_URI[file.diskFormat ?? options.diskFormat]}"/>`,
    );
    item({
      AddressOnParent: d.unitNumber,
      ElementName: d.label,
      HostResource: `ovf:/disk/${diskId}`,
      InstanceID: nextId(),
      Parent: controllerIds.get(d.controllerKey),
      ResourceType: 17,
    });
  });

  if (!options.removeCdrom && vm.cdroms.length > 0) {
    const ideId = nextId();
    item({ Address: 1, Description: 'IDE Controller', ElementName: 'ideController1', InstanceID: ideId, ResourceType: 5 });
    vm.cdroms.forEach((c, i) => {
      item({
        AddressOnParent: i,
        AutomaticAllocation: 'false',
        ElementName: c.label,
        InstanceID: nextId(),
        Parent: ideId,
        ResourceSubType: 'vmware.cdrom.remotepassthrough',
        ResourceType: 15,
      });
    });
  }

  const networks = [...new Set(vm.nics.map((n) => n.network))];
  vm.nics.forEach((n, i) => {
    item({
      // The MAC, where the source has one, as ovftool writes it with --exportFlags=mac
      // and importers (virt-v2v, oVirt, vCenter) read it: the guest's network
      // configuration may be bound to it.
      Address: n.macAddress || undefined,
      AddressOnParent: 7 + i,
      AutomaticAllocation: 'true',
      Connection: n.network,
      Description: `${n.adapterType} ethernet adapter on "${n.network}"`,
      ElementName: n.label,
      InstanceID: nextId(),
      ResourceSubType: n.adapterType.toUpperCase() === 'VMXNET3' ? 'VmxNet3' : n.adapterType.toUpperCase(),
      ResourceType: 10,
    });
  });

  const name = xmlEscape(vm.name);
  const guestId = xmlEscape(vm.guestId || 'otherGuest64');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by hypersdk from ${xmlEscape(vm.path)} -->
<Envelope vmw:buildId="hypersdk" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
${fileRefs.join('\n')}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${diskSection.join('\n')}
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
${networks.map((n) => `    <Network ovf:name="${xmlEscape(n)}">\n      <Description>The ${xmlEscape(n)} network</Description>\n    </Network>`).join('\n')}
  </NetworkSection>
  <VirtualSystem ovf:id="${name}">
    <Info>A virtual machine</Info>
    <Name>${name}</Name>
    <OperatingSystemSection ovf:id="${guestOsCimId(vm.guestId)}" vmw:osType="${guestId}">
      <Info>The kind of installed guest operating system</Info>
      <Description>${xmlEscape(vm.guestFullName || vm.guestId)}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
${items.join('\n')}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="${vm.firmware}"/>
      <vmw:Config ovf:required="false" vmw:key="uuid" vmw:value="${xmlEscape(vm.biosUuid)}"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** CIM operating system ids for common guests; 1 ("Other") when unknown. */
function guestOsCimId(guestId: string): number {
  const g = guestId.toLowerCase();
  if (g.startsWith('windows') && g.includes('64')) return 103;
  if (g.startsWith('win')) return 105;
  if (g.startsWith('rhel') || g.startsWith('centos')) return g.includes('64') ? 80 : 79;
  if (g.startsWith('ubuntu')) return g.includes('64') ? 94 : 93;
  if (g.startsWith('debian')) return g.includes('64') ? 96 : 95;
  if (g.startsWith('sles')) return g.includes('64') ? 85 : 84;
  if (g.includes('linux')) return g.includes('64') ? 101 : 36;
  return 1;
}

/** The .mf manifest: one `SHA256(name)= hex` line per file, as ovftool writes it. */
export function generateManifest(files: { name: string; sha256: string }[]): string {
  return files.map((f) => `SHA256(${f.name})= ${f.sha256}\n`).join('');
}

/** Parses a .mf manifest back into name -> sha256 (for verification). */
export function parseManifest(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^SHA256\((.+)\)= ([0-9a-f]{64})$/.exec(line.trim());
    if (m) entries.set(m[1]!, m[2]!);
  }
  return entries;
}
