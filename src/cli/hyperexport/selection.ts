// Which VMs a run exports, besides -vm: a -batch file, and the -folder / -filter
// narrowing of the interactive list. The formats follow the original hyperexport
// so its batch files and filters keep working.
import { readFile } from 'node:fs/promises';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import type { VmRow } from './backend.js';

/** A -batch file: one VM per line; blank lines and lines starting with '#' are skipped (the original's format). */
export async function readBatchFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`-batch ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, ExitCode.Usage);
  }
  const vms = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (vms.length === 0) throw new CliError(`-batch ${file}: no VMs in it (one VM path or name per line; '#' starts a comment)`, ExitCode.Usage);
  return vms;
}

type FilterKey = 'name' | 'path' | 'power_state' | 'guest_os' | 'num_cpu' | 'memory_mb';

// The original matched a VM's advanced settings (extraConfig), which the VM list
// does not carry; these are the properties it does carry, under their JSON names
// and the short forms people type.
const KEYS: Record<string, FilterKey> = {
  name: 'name',
  path: 'path',
  power_state: 'power_state',
  power: 'power_state',
  state: 'power_state',
  guest_os: 'guest_os',
  os: 'guest_os',
  num_cpu: 'num_cpu',
  cpu: 'num_cpu',
  memory_mb: 'memory_mb',
  memory: 'memory_mb',
};

const POWER_SHORTHAND: Record<string, string> = { on: 'poweredon', off: 'poweredoff', suspended: 'suspended' };

export type VmFilter = (vm: VmRow) => boolean;

/** -filter key=value: the VMs whose property equals the value (strings ignore case; power_state takes on/off too). */
export function parseVmFilter(expression: string): VmFilter {
  const at = expression.indexOf('=');
  const rawKey = at < 0 ? '' : expression.slice(0, at).trim().toLowerCase();
  const value = at < 0 ? '' : expression.slice(at + 1).trim();
  const known = [...new Set(Object.values(KEYS))].join(', ');
  if (at < 0 || rawKey === '' || value === '') throw new CliError(`-filter ${expression}: expected key=value, e.g. -filter power_state=poweredOff (keys: ${known})`, ExitCode.Usage);
  const key = KEYS[rawKey];
  if (!key) throw new CliError(`-filter ${expression}: unknown key "${rawKey}"; filter on ${known} (VM advanced settings are not read)`, ExitCode.Usage);
  if (key === 'num_cpu' || key === 'memory_mb') {
    const wanted = Number(value);
    if (!Number.isFinite(wanted)) throw new CliError(`-filter ${expression}: ${key} takes a number`, ExitCode.Usage);
    return (vm) => vm[key] === wanted;
  }
  const lowered = value.toLowerCase();
  const wanted = key === 'power_state' ? (POWER_SHORTHAND[lowered] ?? lowered) : lowered;
  return (vm) => vm[key].toLowerCase() === wanted;
}

/** -folder (a part of the inventory path, as the original matched it) and -filter applied to a VM list. */
export function narrowVms(vms: readonly VmRow[], folder: string | undefined, filter: VmFilter | undefined): VmRow[] {
  return vms.filter((vm) => (folder === undefined || vm.path.includes(folder)) && (filter === undefined || filter(vm)));
}
