// Go's flag package lets a boolean flag take its value after '=': `-quiet=true`,
// `-verify=false`, `-compress=0`. Commander has no such syntax for switches, so
// these tokens are rewritten before parsing: a true value keeps the switch, a
// false one drops it (the default of every hyperexport switch is off).
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';

// The spellings Go's strconv.ParseBool accepts.
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** `argv` after normaliseGoFlags (long names have two dashes); `switches` are the boolean options' long names. */
export function applyGoBoolValues(argv: readonly string[], switches: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const match = /^--?([A-Za-z][A-Za-z0-9-]*)=(.*)$/.exec(arg);
    if (!match || !switches.has(match[1]!)) {
      out.push(arg);
      continue;
    }
    const [, name, value] = match as unknown as [string, string, string];
    if (TRUE.has(value)) out.push(`--${name}`);
    else if (!FALSE.has(value)) throw new CliError(`-${name}=${value}: a switch takes true or false (or 1/0, t/f)`, ExitCode.Usage);
  }
  return out;
}
