// What AWS and Azure jobs share: the vSphere fields they refuse, the formats their
// disks are written in (images: EBS volumes and managed disks have no VMDK files)
// and the one export method they have. Each provider's file names what it says.
import { imageFormatOf, type ExportFormat, type ImageFormat } from '../core/export-contract.js';
import { JobRejected } from './job-rejected.js';
import type { JobDefinitionInput } from './submit-schemas.js';

export type VsphereField = 'profile' | 'vcenter' | 'vcenter_url' | 'username' | 'password' | 'insecure';

/**
 * The Python SDK and other clients send empty or false vCenter fields with every
 * job: only a value that asks for something is refused.
 */
export function asksForSomething(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && value !== false;
}

/** Refuses the first vSphere field the job sets, with the provider's reason for it. */
export function refuseVsphereFields(job: JobDefinitionInput, label: string, reasons: Record<VsphereField, string>): void {
  for (const [field, why] of Object.entries(reasons)) {
    if (asksForSomething(job[field as VsphereField])) throw new JobRejected(`${label}${field}: ${why}`);
  }
}

/** The disks of a cloud source's OVF/OVA: qcow2, KVM-ready and storing only the blocks that hold data. */
const CLOUD_OVF_DISK_IMAGE: ImageFormat = 'qcow2';

export interface CloudJobFormat {
  format: ExportFormat;
  /** For ovf/ova: the image format of the disks the descriptor references. */
  diskImage?: ImageFormat;
}

/**
 * raw, qcow2 and vhd as asked (each with an OVF descriptor beside the images); ovf and
 * ova describe the VM with qcow2 disks. Without a format: the configured default
 * when it is an image format, else qcow2 (ovf's files under another name).
 * `noVmdk` says why vmdk is refused, e.g. "EBS volumes have none".
 */
export function cloudJobFormat(requested: JobDefinitionInput['format'], fallback: ExportFormat, label: string, noVmdk: string): CloudJobFormat {
  if (requested === undefined) return { format: imageFormatOf(fallback) ?? 'qcow2' };
  if (requested === 'vmdk') {
    throw new JobRejected(
      `${label}format: vmdk is the source's own VMDK disk files, and ${noVmdk}: give qcow2, raw or vhd (images), or ovf or ova (the VM described with qcow2 disks)`,
    );
  }
  const image = imageFormatOf(requested);
  return image ? { format: image } : { format: requested, diskImage: CLOUD_OVF_DISK_IMAGE };
}

/** A cloud source is read one way (auto); the vSphere methods are refused by the field the client used. */
export function checkAutoMethod(requested: JobDefinitionInput['export_method'], field: string, label: string, how: string): void {
  if (requested === undefined || requested === '' || requested === 'auto') return;
  throw new JobRejected(`${label}${field}: "${requested}" is a vSphere export method; ${how} (auto): leave ${field} out or give auto`);
}

/** Keys under `source` that would be credentials: refused rather than ignored, so nobody believes they were used. */
const CREDENTIAL_KEY = /secret|access.?key|session.?token|password|credential|token|client.?id|tenant/i;

/**
 * Checks the keys under `source` before the schema does: credential-like keys are
 * refused with `credentialsRefused` (they would be silently dropped otherwise),
 * keys the provider does not read are warned about and dropped.
 */
export function keepSourceKeys(source: unknown, keys: readonly string[], label: string, warnings: string[], credentialsRefused: string): unknown {
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return source;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (keys.includes(key)) kept[key] = value;
    else if (CREDENTIAL_KEY.test(key)) throw new JobRejected(`${label}source.${key}: ${credentialsRefused}`);
    else warnings.push(`${label}source.${key}: unknown field, ignored (source takes ${keys.join(' and ')})`);
  }
  return kept;
}
