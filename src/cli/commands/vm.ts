// hyperctl vm -op shutdown|poweroff|remove-cdrom|info -path P [-timeout S]: the
// original's VM operations, through the daemon (each change is a workflow there).
import { Command } from 'commander';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { daemonClient, printJson, withCommonOptions, type CommandContext, type CommonOptions } from './shared.js';

const OPERATIONS = ['shutdown', 'poweroff', 'remove-cdrom', 'info'] as const;
type Operation = (typeof OPERATIONS)[number];
const DEFAULT_TIMEOUT_SECONDS = 300;
/** The daemon answers when the operation has ended: at most its timeout plus its own slack. */
const ANSWER_SLACK_MS = 45_000;

interface VmOptions extends CommonOptions {
  op?: string;
  path?: string;
  timeout?: string;
}

interface OperationResponse {
  message: string;
  operation_id: string;
}

interface InfoResponse {
  vm_info: { name: string; path: string; power_state: string; guest_os: string; num_cpu: number; memory_mb: number; storage_bytes: number };
}

function usage(message: string): CliError {
  return new CliError(message, ExitCode.Usage);
}

/** The flags, checked: the first problem is a usage error naming its flag. */
function readFlags(options: VmOptions): { op: Operation; path: string; timeoutSeconds?: number } {
  const choices = OPERATIONS.join(', ');
  if (!options.op) throw usage(`-op is required: one of ${choices}`);
  const op = OPERATIONS.find((o) => o === options.op);
  if (!op) throw usage(`-op ${options.op}: unknown operation; use one of ${choices}`);
  if (!options.path) throw usage('-path is required: the VM inventory path, e.g. /DC0/vm/my-vm');
  if (options.timeout === undefined) return { op, path: options.path };
  const timeoutSeconds = Number(options.timeout);
  if (!/^\d+$/.test(options.timeout) || timeoutSeconds < 1 || timeoutSeconds > 3600) {
    throw usage(`-timeout ${options.timeout}: must be whole seconds from 1 to 3600`);
  }
  return { op, path: options.path, timeoutSeconds };
}

export function vmCommand(ctx: CommandContext): Command {
  return withCommonOptions(
    new Command('vm')
      .description('VM operations: shut the guest down, power off, remove CD/DVD drives, or show the VM')
      .option('--op <operation>', 'shutdown, poweroff, remove-cdrom or info')
      .option('--path <path>', 'VM inventory path (e.g. /DC0/vm/my-vm)')
      .option('--timeout <seconds>', `how long the operation may take (default ${DEFAULT_TIMEOUT_SECONDS})`),
  ).action(async (options: VmOptions) => {
    const { io } = ctx;
    const { op, path, timeoutSeconds } = readFlags(options);
    const client = daemonClient(options, io);
    if (op === 'info') {
      const response = await client.post<InfoResponse>('/vms/info', { vm_path: path });
      if (options.json) printJson(io, response);
      else {
        const vm = response.vm_info;
        io.out(
          [
            `Name:         ${vm.name}`,
            `Path:         ${vm.path}`,
            `Power State:  ${vm.power_state}`,
            `Guest OS:     ${vm.guest_os}`,
            `CPUs:         ${vm.num_cpu}`,
            `Memory:       ${vm.memory_mb} MiB`,
            `Storage:      ${formatBytes(vm.storage_bytes)}`,
            '',
          ].join('\n'),
        );
      }
      ctx.setExitCode(ExitCode.Ok);
      return;
    }
    const body = { vm_path: path, ...(timeoutSeconds ? { timeout: timeoutSeconds } : {}) };
    const waitMs = (timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000 + ANSWER_SLACK_MS;
    const response = await client.post<OperationResponse>(`/vms/${op}`, body, 'application/json', waitMs);
    if (options.json) printJson(io, response);
    else io.out(`${response.message}\n  Operation ID: ${response.operation_id}\n`);
    ctx.setExitCode(ExitCode.Ok);
  });
}
