// hyperctl list [-json] [-filter s]: the VMs of the daemon's vCenter, as the
// original's hyperctl lists them (its -json prints {vms, total, timestamp} with
// its VMInfo keys, after the filter).
import { Command } from 'commander';
import type { VmRow } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

/** Listing a large inventory takes a while (the original waits 120 s too). */
const LIST_TIMEOUT_MS = 120_000;

/** The original's VMInfo keys, in its order. */
function originalKeys(vm: VmRow): VmRow {
  return {
    name: vm.name,
    path: vm.path,
    power_state: vm.power_state,
    guest_os: vm.guest_os,
    memory_mb: vm.memory_mb,
    num_cpu: vm.num_cpu,
    storage_bytes: vm.storage_bytes,
  };
}

/** Case-insensitive substring of the name or the inventory path, as the original matches. */
export function matchesFilter(vm: Pick<VmRow, 'name' | 'path'>, filter: string): boolean {
  const needle = filter.toLowerCase();
  return vm.name.toLowerCase().includes(needle) || vm.path.toLowerCase().includes(needle);
}

function table(vms: VmRow[]): string {
  const rows = vms.map((vm) => [vm.name, vm.power_state, String(vm.num_cpu), `${vm.memory_mb} MiB`, formatBytes(vm.storage_bytes), vm.guest_os, vm.path]);
  const header = ['NAME', 'POWER', 'CPU', 'MEMORY', 'STORAGE', 'GUEST OS', 'PATH'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`;
  return line(header) + rows.map(line).join('');
}

export function listCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('list').description('list the VMs of the vCenter').option('--filter <text>', 'only VMs whose name or path contains this (any case)'),
  ).action(async (options: CommonOptions & { filter?: string }) => {
    const { io } = ctx;
    const response = await daemonClient(options, io).get<{ vms: VmRow[] }>('/vms/list', LIST_TIMEOUT_MS);
    const vms = options.filter ? response.vms.filter((vm) => matchesFilter(vm, options.filter!)) : response.vms;
    if (options.json) printJson(io, { vms: vms.map(originalKeys), total: vms.length, timestamp: new Date().toISOString() });
    else if (vms.length === 0) io.out(options.filter ? `No VMs match "${options.filter}"\n` : 'No VMs found\n');
    else io.out(`${table(vms)}${vms.length} VM(s)\n`);
    ctx.setExitCode(ExitCode.Ok);
  });
}
