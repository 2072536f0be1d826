// What an export of a VM would produce, from its description: the disks, their
// sizes and the files that would be written. -dry-run prints this; nothing here
// has side effects.
import type { ExportFormat } from '../../core/export-contract.js';
import { diskFileName, manifestFileName, ovaFileName, ovfFileName } from '../../export/disk-files.js';
import { formatBytes } from '../format.js';
import type { VmInfo } from './backend.js';

export interface PlanOptions {
  format: ExportFormat;
  method: 'auto' | 'ovf' | 'datastore';
  snapshot: boolean;
  powerOff: boolean;
  removeCdrom: boolean;
  /** Absolute directory, or undefined when the daemon chooses it. */
  outputDir?: string;
}

export interface ExportPlan {
  vm_path: string;
  name: string;
  power_state: string;
  method: string;
  format: string;
  output_dir: string | null;
  disks: { label: string; capacity_bytes: number; backing_file: string; datastore: string; file: string }[];
  files: string[];
  total_bytes: number;
  warnings: string[];
}

export function planExport(vm: VmInfo, options: PlanOptions): ExportPlan {
  const disks = vm.disks.map((d, i) => ({ label: d.label, capacity_bytes: d.capacity_bytes, backing_file: d.backing_file, datastore: d.datastore, file: diskFileName(vm, i, options.format) }));
  const files = [ovfFileName(vm), ...disks.map((d) => d.file), manifestFileName(vm)];
  if (options.format === 'ova') files.push(ovaFileName(vm));
  const warnings: string[] = [];
  if (vm.power_state === 'poweredOn') {
    if (options.powerOff) warnings.push('the VM is powered on: it would be shut down (graceful, then hard power-off) before the export');
    else if (options.snapshot) warnings.push('the VM is powered on: a snapshot would be exported and removed afterwards');
    else warnings.push('the VM is powered on: the export would fail; add -snapshot (the VM keeps running) or -power-off');
  }
  if (vm.cdroms.length > 0 && options.removeCdrom) warnings.push(`${vm.cdroms.length} CD-ROM drive(s) would be left out of the OVF`);
  if (disks.length === 0) warnings.push('the VM has no disks');
  return {
    vm_path: vm.path,
    name: vm.name,
    power_state: vm.power_state,
    method: options.method,
    format: options.format,
    output_dir: options.outputDir ?? null,
    disks,
    files,
    total_bytes: disks.reduce((n, d) => n + d.capacity_bytes, 0),
    warnings,
  };
}

export function renderPlan(plan: ExportPlan): string {
  const lines = [
    `VM ${plan.vm_path} (${plan.power_state})`,
    `  method ${plan.method}, format ${plan.format}`,
    `  disks (${plan.disks.length}, ${formatBytes(plan.total_bytes)}):`,
    ...plan.disks.map((d) => `    ${d.label.padEnd(14)} ${formatBytes(d.capacity_bytes).padStart(10)}  ${d.backing_file}  ->  ${d.file}`),
    `  output: ${plan.output_dir ?? "the daemon's export directory (a new folder per job)"}`,
    `  files: ${plan.files.join(', ')}`,
    ...plan.warnings.map((w) => `  note: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}
