// Interactive selection: pick VMs from discovery, choose the options that matter,
// confirm. Prompts come from @inquirer/prompts (v7: v8 needs Node 22): its
// checkbox handles paging, arrow keys, space/a/i and Ctrl-C properly, which a
// hand-rolled prompt would have to re-implement. The prompt functions are
// injected so the flow is testable without a terminal.
import type { ExportFormat } from '../../core/export-contract.js';
import { formatBytes } from '../format.js';
import type { VmRow } from './backend.js';

export interface Choice<T> {
  name: string;
  value: T;
  checked?: boolean;
  description?: string;
}

export interface Prompts {
  checkbox<T>(config: { message: string; choices: Choice<T>[]; pageSize?: number; required?: boolean; loop?: boolean }): Promise<T[]>;
  select<T>(config: { message: string; choices: Choice<T>[]; default?: T }): Promise<T>;
  input(config: { message: string; default?: string }): Promise<string>;
  confirm(config: { message: string; default?: boolean }): Promise<boolean>;
}

export interface InteractiveDefaults {
  format?: ExportFormat;
  output?: string;
  snapshot: boolean;
  powerOff: boolean;
  removeCdrom: boolean;
  /** Standalone mode has no daemon to choose the output directory. */
  outputRequired: boolean;
  /** aws, azure: cloud VMs, whose disks are written as images (an OVF/OVA holds qcow2), without CD-ROM drives to leave out. */
  provider?: 'vsphere' | 'aws' | 'azure';
}

const FORMAT_CHOICES: Choice<ExportFormat>[] = [
  { name: 'OVF (descriptor, disks and manifest in a directory)', value: 'ovf' },
  { name: 'OVA (the same, packed into one tar file)', value: 'ova' },
  { name: 'qcow2 (KVM-ready images, only allocated clusters, beside an OVF descriptor)', value: 'qcow2' },
  { name: 'raw (KVM-ready sparse images beside an OVF descriptor)', value: 'raw' },
  { name: 'vhd (fixed VHDs, as Azure serves a disk: sparse raw images with a footer, beside an OVF descriptor)', value: 'vhd' },
];

export interface Selection {
  vms: VmRow[];
  format: ExportFormat;
  output?: string;
  snapshot: boolean;
  powerOff: boolean;
  removeCdrom: boolean;
}

export function vmChoiceLabel(vm: VmRow, pathWidth: number): string {
  const power = vm.power_state === 'poweredOn' ? 'on ' : vm.power_state === 'poweredOff' ? 'off' : vm.power_state.slice(0, 3);
  return `${vm.path.padEnd(pathWidth)}  ${power}  ${String(vm.num_cpu).padStart(2)} CPU  ${formatBytes(vm.memory_mb * 1024 * 1024).padStart(9)} RAM  ${formatBytes(vm.storage_bytes).padStart(9)} disk`;
}

/** Runs the prompts; resolves to undefined when the user declines at the confirmation. */
export async function chooseInteractively(vms: readonly VmRow[], defaults: InteractiveDefaults, prompts: Prompts): Promise<Selection | undefined> {
  const sorted = [...vms].sort((a, b) => a.path.localeCompare(b.path));
  const width = Math.min(60, Math.max(...sorted.map((v) => v.path.length), 10));
  const chosen = await prompts.checkbox<VmRow>({
    message: 'Select the VMs to export (space to toggle, a for all, enter to continue)',
    choices: sorted.map((vm) => ({ name: vmChoiceLabel(vm, width), value: vm })),
    pageSize: 15,
    required: true,
    loop: false,
  });
  if (chosen.length === 0) return undefined;

  let { snapshot, powerOff } = defaults;
  const aws = defaults.provider === 'aws';
  const cloud = aws || defaults.provider === 'azure';
  let selected = chosen;
  const poweredOn = chosen.filter((vm) => vm.power_state === 'poweredOn');
  if (poweredOn.length > 0 && !snapshot && !powerOff) {
    const how = await prompts.select<'snapshot' | 'power-off' | 'skip'>({
      message: `${poweredOn.length} selected ${aws ? 'instance(s) are running' : 'VM(s) are powered on'}. How should they be exported?`,
      choices: aws
        ? [
            { name: 'snapshot the volumes while it runs (crash-consistent; the instance keeps running)', value: 'snapshot' },
            { name: 'stop the instance first, then snapshot its volumes', value: 'power-off' },
            { name: 'skip the running instances', value: 'skip' },
          ]
        : cloud
          ? [
              { name: "snapshot the managed disks while it runs (crash-consistent; the VM keeps running)", value: 'snapshot' },
              { name: 'deallocate the VM first, then snapshot its disks', value: 'power-off' },
              { name: 'skip the running VMs', value: 'skip' },
            ]
          : [
            { name: 'export a snapshot (the VM keeps running; the snapshot is removed afterwards)', value: 'snapshot' },
            { name: 'shut the VM down first (graceful, then hard power-off)', value: 'power-off' },
            { name: 'skip the powered-on VMs', value: 'skip' },
          ],
      default: 'snapshot',
    });
    if (how === 'snapshot') snapshot = true;
    else if (how === 'power-off') powerOff = true;
    else selected = chosen.filter((vm) => vm.power_state !== 'poweredOn');
    if (selected.length === 0) return undefined;
  }

  const format =
    defaults.format ??
    (await prompts.select<ExportFormat>({
      message: cloud ? 'Format (OVF/OVA disks are qcow2)' : 'Package format',
      // Cloud disks are written as images only (an OVF/OVA references qcow2).
      choices: FORMAT_CHOICES,
      default: cloud ? 'qcow2' : 'ovf',
    }));

  let output = defaults.output;
  if (output === undefined) {
    const answer = (
      await prompts.input({
        message: defaults.outputRequired ? 'Output directory' : "Output directory (empty: the daemon's export directory)",
        ...(defaults.outputRequired ? { default: './exports' } : {}),
      })
    ).trim();
    output = answer === '' ? undefined : answer;
  }

  let removeCdrom = defaults.removeCdrom;
  if (!removeCdrom && !cloud) removeCdrom = await prompts.confirm({ message: 'Leave CD-ROM drives out of the OVF?', default: false });

  const total = selected.reduce((n, vm) => n + vm.storage_bytes, 0);
  const mode = snapshot ? ', snapshots of running VMs' : powerOff ? ', running VMs shut down first' : '';
  const where = output ?? "the daemon's export directory";
  const go = await prompts.confirm({
    message: `Export ${selected.length} VM(s), ${formatBytes(total)}, as ${format.toUpperCase()} to ${where}${mode}?`,
    default: true,
  });
  if (!go) return undefined;
  return { vms: selected, format, ...(output !== undefined ? { output } : {}), snapshot, powerOff, removeCdrom };
}
