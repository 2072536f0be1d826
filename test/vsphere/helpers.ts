// Shared bits of the vSphere provider's integration tests.
import { inject } from 'vitest';
import { govc } from '../harness/govc.js';
import type { ServiceInfo } from '../harness/services.js';
import { connectVsphere, type VsphereProvider } from '../../src/providers/vsphere/index.js';

export function services(): ServiceInfo {
  return inject('services');
}

/** Our provider against the harness vcsim (self-signed certificate: insecure on purpose). */
export function connect(extra: { timeoutMs?: number } = {}): Promise<VsphereProvider> {
  const { vcsim } = services();
  return connectVsphere({
    url: vcsim.sdkUrl,
    username: vcsim.username,
    password: vcsim.password,
    insecure: true,
    ...extra,
  });
}

export function runGovc(args: string[]): Promise<string> {
  return govc(services(), args);
}

/** govc -json commands that print one pretty-printed object per result, back to back. */
export function parseJsonStream<T>(text: string): T[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  return JSON.parse(`[${trimmed.replace(/}\n{/g, '},{')}]`) as T[];
}

/** A unique name per test run, so files running in parallel on the shared vcsim never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Creates a powered-on VM with one small disk in `folder` (created if missing) and returns its inventory path. */
export async function createVm(
  name: string,
  options: { folder?: string; on?: boolean; firmware?: 'bios' | 'efi'; diskSize?: string } = {},
): Promise<string> {
  const folder = options.folder ?? '/DC0/vm';
  const parts = folder.split('/').filter(Boolean);
  for (let i = 3; i <= parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    await runGovc(['folder.create', path]).catch(() => undefined); // exists already
  }
  await runGovc([
    'vm.create',
    '-folder',
    folder,
    '-host',
    'DC0_H0',
    '-ds',
    'LocalDS_0',
    '-net',
    'VM Network',
    '-net.adapter',
    'vmxnet3',
    '-disk',
    options.diskSize ?? '1MB',
    '-firmware',
    options.firmware ?? 'bios',
    `-on=${options.on ?? true}`,
    name,
  ]);
  return `${folder}/${name}`;
}
