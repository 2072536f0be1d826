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
import { normaliseGoFlags } from './go-flags.js';
import { processIo, type CliIo } from './io.js';

function longOptionNames(command: Command, into = new Set<string>()): Set<string> {
  for (const option of command.options) if (option.long) into.add(option.long.replace(/^--/, ''));
  for (const sub of command.commands) longOptionNames(sub, into);
  return into;
}

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
  configure(program, ctx.io);
  return program;
}

/** Runs hyperctl with the arguments after the program name; resolves to the exit code. */
export async function runHyperctl(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = buildHyperctl({ io, setExitCode: (code) => (exitCode = code) });
  if (args.length === 0) {
    io.err(program.helpInformation());
    return ExitCode.Usage;
  }
  try {
    await program.parseAsync(normaliseGoFlags(args, longOptionNames(program)), { from: 'user' });
    return exitCode;
  } catch (err) {
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
