// Output file names, shared by the workflow (progress) and the activities (files).
// Pure and deterministic: safe to import from workflow code.
import type { VmDescription } from '../providers/types.js';

/** Replaces anything that is not safe in a file name; never returns "", "." or "..". */
export function sanitizeFileName(name: string): string {
  const cleaned = name
    .normalize('NFKC')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 120);
  return cleaned.length > 0 ? cleaned : 'vm';
}

export function diskFileName(vm: Pick<VmDescription, 'name'>, index: number): string {
  return `${sanitizeFileName(vm.name)}-disk${index + 1}.vmdk`;
}

export function ovfFileName(vm: Pick<VmDescription, 'name'>): string {
  return `${sanitizeFileName(vm.name)}.ovf`;
}

export function manifestFileName(vm: Pick<VmDescription, 'name'>): string {
  return `${sanitizeFileName(vm.name)}.mf`;
}

export function ovaFileName(vm: Pick<VmDescription, 'name'>): string {
  return `${sanitizeFileName(vm.name)}.ova`;
}
