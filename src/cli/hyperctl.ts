// hyperctl: control the hypersdk daemon. Commands return an exit code; only
// bin/hyperctl.js ends the process.
import { Command, CommanderError } from 'commander';
import { cancelCommand } from './commands/cancel.js';
import { describeCommand } from './commands/describe.js';
import { historyCommand } from './commands/history.js';
import { listCommand } from './commands/list.js';
import { queryCommand } from './commands/query.js';
import type { CommandContext } from './commands/shared.js';
import { statusCommand } from './commands/status.js';
import { submitCommand } from './commands/submit.js';
import { vmCommand } from './commands/vm.js';
import { vmsCommand } from './commands/vms.js';
import { watchCommand } from './commands/watch.js';
import { CliError } from './daemon-client.js';
import { EXIT_CODES_HELP, ExitCode } from './exit-codes.js';
import { GoFlagError, goFlagSpec, normaliseGoFlags, parseLeadingGoFlags } from './go-flags.js';
import { processIo, type CliIo } from './io.js';
import { logsCommand } from './commands/logs.js';
import { VERSION } from '../api/version.js';

// Flags of hyperctl itself, before the command (commander does not parse them: runHyperctl does).
const GLOBAL_FLAGS_HELP = `Before the command: -daemon <url> (every command's -daemon), -version.
Booleans take Go's forms too: -all, -all=true, -all=false.
`;

function configure(command: Command, io: CliIo): void {
  command.exitOverride().showHelpAfterError(true);
  command.configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const sub of command.commands) configure(sub, io);
}

export function buildHyperctl(ctx: CommandContext): Command {
  const program = new Command('hyperctl')
    .description('Control the hypersdk export daemon. Flags take one dash or two: -vm x == --vm x.')
    .addHelpText('after', EXIT_CODES_HELP);
  for (const make of [submitCommand, queryCommand, statusCommand, cancelCommand, watchCommand, vmsCommand, describeCommand, historyCommand, vmCommand, listCommand]) {
    program.addCommand(make(ctx));
  }

  program.addCommand(logsCommand(ctx));
  program.addHelpText('after', GLOBAL_FLAGS_HELP);
  configure(program, ctx.io);
  return program;
}

/** Runs hyperctl with the arguments after the program name; resolves to the exit code. */
export async function runHyperctl(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = buildHyperctl({ io, setExitCode: (code) => (exitCode = code) });
  try {
    // Flags of hyperctl itself come before the command, as in the Go original.
    const leading = parseLeadingGoFlags(args, new Set(['daemon']), new Set(['version', 'help', 'h']));
    if (leading.switches.has('version')) {
      io.out(`hyperctl version ${VERSION}\n`);
      return ExitCode.Ok;
    }
    if (leading.switches.has('help') || leading.switches.has('h')) {
      program.outputHelp();
      return ExitCode.Ok;
    }
    const [name, ...rest] = leading.rest;
    if (name === undefined) {
      program.outputHelp({ error: true });
      return ExitCode.Usage;
    }
    const command = subcommand(program, name);
    // Unknown commands go to commander as they are: it names them and suggests one.
    const commandArgs = command ? withGlobalDaemon(command, rest, leading.values.get('daemon')) : rest;
    await program.parseAsync([name, ...commandArgs], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof GoFlagError) {
      io.err(`hyperctl: ${err.message}\n`);
      return ExitCode.Usage;
    }
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else is a usage error.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof CliError) {
      io.err(`hyperctl: ${err.message}\n`);
      return err.exitCode;
    }
    io.err(`hyperctl: unexpected error: ${(err as Error).message}\n`);
    return ExitCode.Failed;
  }
}

function subcommand(parent: Command, name: string | undefined): Command | undefined {
  return name === undefined ? undefined : parent.commands.find((c) => c.name() === name || c.aliases().includes(name));
}

/**
 * The arguments after the command name, in commander's forms, with the
 * program-level -daemon handed to the command that runs (`vms list`, not `vms`)
 * as its own --daemon placed first, so that a -daemon after it still wins.
 */
function withGlobalDaemon(command: Command, rest: readonly string[], url: string | undefined): string[] {
  let leaf = command;
  let depth = 0;
  for (let next = subcommand(leaf, rest[0]); next; next = subcommand(leaf, rest[depth])) {
    leaf = next;
    depth++;
  }
  const flags = normaliseGoFlags(rest.slice(depth), goFlagSpec(leaf, true));
  if (url === undefined) return [...rest.slice(0, depth), ...flags];
  if (!leaf.options.some((o) => o.long === '--daemon')) {
    throw new GoFlagError(`-daemon does not apply to '${leaf.name()}', which does not talk to the daemon`);
  }
  return [...rest.slice(0, depth), '--daemon', url, ...flags];
}
