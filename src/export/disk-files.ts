// Output file names, shared by the workflow (progress) and the activities (files).
// Pure and deterministic: safe to import from workflow code.
import type { ExportFormat } from '../core/export-contract.js';
import type { VmDescription } from '../core/vm-description.js';

/**
 * Turns a VM name into a safe file name component: no path separators, no
 * control characters, no leading dots, bounded length; never "", "." or "..".
 */
export function safeFileName(name: string, fallback = 'vm'): string {
  const cleaned = name
    .normalize('NFKC')
    .replace(/[^A-Za-z0-9._+-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^[._]+/, '')
    .replace(/[_]+$/, '')
    .slice(0, 200);
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? fallback : cleaned;
}

/** "<vm>-disk<N>.vmdk" (the source's disks, as the original names them), ".raw", ".qcow2" or ".vhd" for images. */
export function diskFileName(vm: Pick<VmDescription, 'name'>, index: number, format?: ExportFormat): string {
  const extension = format === 'raw' || format === 'qcow2' || format === 'vhd' ? format : 'vmdk';
  return `${safeFileName(vm.name)}-disk${index + 1}.${extension}`;
}

export function ovfFileName(vm: Pick<VmDescription, 'name'>): string {
  return `${safeFileName(vm.name)}.ovf`;
}

export function manifestFileName(vm: Pick<VmDescription, 'name'>): string {
  return `${safeFileName(vm.name)}.mf`;
}

export function ovaFileName(vm: Pick<VmDescription, 'name'>): string {
  return `${safeFileName(vm.name)}.ova`;
}
