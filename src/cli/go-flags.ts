// The original hyperctl and hypervisord are Go programs, parsed by Go's flag
// package: flags are long names taking one dash or two (`-vm`, `--vm`), values
// follow as `-vm x` or `-vm=x`, and booleans are set with `-all`, `-all=true` or
// `-all=false`. Commander reads `-vm` as `-v -m` and refuses `--all=true`, so the
// arguments are rewritten to commander's forms before parsing — only for names
// the CLI defines, so values that start with a dash are left alone.
import type { Command } from 'commander';

/** A flag written in a way Go's flag package would also refuse (exit code 2). */
export class GoFlagError extends Error {
  override name = 'GoFlagError';
}

export interface GoFlagSpec {
  /** Long option names (without dashes) a command defines. */
  names: ReadonlySet<string>;
  /** The boolean ones among them, and one-letter short flags that are boolean (`f` for -f). */
  booleans?: ReadonlySet<string>;
}

// strconv.ParseBool's spellings, which Go's flag package accepts after `=`.
const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/** The long names and the boolean flags of `command` and, with `deep`, of its subcommands. */
export function goFlagSpec(command: Command, deep = false): { names: Set<string>; booleans: Set<string> } {
  // Commander gives every command --help; Go programs answer -help and -h too.
  const names = new Set<string>(['help']);
  const booleans = new Set<string>();
  const visit = (c: Command) => {
    for (const option of c.options) {
      const long = option.long?.replace(/^--/, '');
      if (long) names.add(long);
      if (option.isBoolean()) {
        if (long) booleans.add(long);
        const short = option.short?.replace(/^-/, '');
        if (short) booleans.add(short);
      }
    }
    if (deep) for (const sub of c.commands) visit(sub);
  };
  visit(command);
  return { names, booleans };
}

function isSpec(value: ReadonlySet<string> | GoFlagSpec): value is GoFlagSpec {
  return !(value instanceof Set);
}

/**
 * Rewrites Go-style flags to commander's: `-vm x` -> `--vm x`, `-all=true` ->
 * `--all`, `-all=false` -> (nothing, and an earlier `-all` is withdrawn: the last
 * one wins, as in Go). A boolean given any other value is a GoFlagError naming it.
 */
export function normaliseGoFlags(argv: readonly string[], spec: ReadonlySet<string> | GoFlagSpec): string[] {
  const { names, booleans = new Set<string>() } = isSpec(spec) ? spec : { names: spec };
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const match = /^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$/.exec(arg);
    const name = match?.[1];
    if (!match || name === undefined) {
      out.push(arg);
      continue;
    }
    const value = match[2]?.slice(1);
    if (booleans.has(name) && value !== undefined) {
      const flag = name.length === 1 && !names.has(name) ? `-${name}` : `--${name}`;
      if (GO_TRUE.has(value)) out.push(flag);
      else if (GO_FALSE.has(value)) removeAll(out, flag);
      else throw new GoFlagError(`-${name} is a switch: give -${name}, -${name}=true or -${name}=false, not ${JSON.stringify(value)}`);
      continue;
    }
    out.push(names.has(name) ? `--${name}${match[2] ?? ''}` : arg);
  }
  return out;
}

function removeAll(list: string[], item: string): void {
  for (let i = list.indexOf(item); i >= 0; i = list.indexOf(item)) list.splice(i, 1);
}

export interface LeadingFlags {
  values: Map<string, string>;
  switches: Set<string>;
  /** The subcommand and what follows it. */
  rest: string[];
}

/**
 * Reads the program-level flags that come before the subcommand, as Go's
 * flag.Parse does (it stops at the first argument that is not a flag):
 * `hyperctl -daemon http://h:8080 status`. A flag it does not know is a
 * GoFlagError; so is a value flag without its value.
 */
export function parseLeadingGoFlags(argv: readonly string[], valueFlags: ReadonlySet<string>, switchFlags: ReadonlySet<string>): LeadingFlags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    const match = /^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$/.exec(arg);
    const name = match?.[1];
    if (!match || name === undefined) break;
    const inline = match[2]?.slice(1);
    if (valueFlags.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new GoFlagError(`-${name} needs a value: -${name} <value>`);
      values.set(name, value);
    } else if (switchFlags.has(name)) {
      if (inline === undefined || GO_TRUE.has(inline)) switches.add(name);
      else if (GO_FALSE.has(inline)) switches.delete(name);
      else throw new GoFlagError(`-${name} is a switch: give -${name}, -${name}=true or -${name}=false, not ${JSON.stringify(inline)}`);
    } else {
      const known = [...valueFlags, ...switchFlags].map((f) => `-${f}`).join(', ');
      throw new GoFlagError(`${arg}: not a flag of its own before the command (those are ${known}); flags of a command go after its name`);
    }
  }
  return { values, switches, rest: argv.slice(i) };
}
