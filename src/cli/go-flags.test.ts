import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { GoFlagError, goFlagSpec, normaliseGoFlags, parseLeadingGoFlags } from './go-flags.js';

const command = new Command('query').option('--id <id>').option('--all').option('--json').option('-f, --follow').option('--tail <n>');
const spec = goFlagSpec(command);

describe('Go flag syntax', () => {
  it('turns -name and -name=value into commander long options', () => {
    expect(normaliseGoFlags(['-id', 'x', '-tail=5', '--id=y', '-unknown', '-x'], spec)).toEqual(['--id', 'x', '--tail=5', '--id=y', '-unknown', '-x']);
  });

  it('reads -bool=true and -bool=false as Go does (last one wins), for long and short switches', () => {
    expect(normaliseGoFlags(['-all=true', '--json=1', '-f=T'], spec)).toEqual(['--all', '--json', '-f']);
    expect(normaliseGoFlags(['-all', '-all=false', '--json=false', '-f', '-f=0'], spec)).toEqual([]);
    expect(normaliseGoFlags(['-all=false', '-all'], spec)).toEqual(['--all']);
  });

  it('refuses any other value for a switch, naming it', () => {
    expect(() => normaliseGoFlags(['-all=yes'], spec)).toThrow(GoFlagError);
    expect(() => normaliseGoFlags(['-all=yes'], spec)).toThrow(/-all is a switch: give -all, -all=true or -all=false, not "yes"/);
    expect(() => normaliseGoFlags(['-f=maybe'], spec)).toThrow(/-f is a switch/);
  });

  it('leaves everything after -- alone, and still takes a plain set of names', () => {
    expect(normaliseGoFlags(['-id', '--', '-all=true'], spec)).toEqual(['--id', '--', '-all=true']);
    expect(normaliseGoFlags(['-vm', 'x', '-all=true'], new Set(['vm']))).toEqual(['--vm', 'x', '-all=true']);
  });

  it('reads the flags before the subcommand, stopping at the first argument', () => {
    const parsed = parseLeadingGoFlags(['-daemon', 'http://h:1', '--version=false', 'status', '-daemon', 'x'], new Set(['daemon']), new Set(['version']));
    expect(parsed.values.get('daemon')).toBe('http://h:1');
    expect(parsed.switches.has('version')).toBe(false);
    expect(parsed.rest).toEqual(['status', '-daemon', 'x']);
    expect(parseLeadingGoFlags(['--daemon=u', '-version'], new Set(['daemon']), new Set(['version'])).switches.has('version')).toBe(true);
    expect(() => parseLeadingGoFlags(['-daemon'], new Set(['daemon']), new Set())).toThrow(/-daemon needs a value/);
    expect(() => parseLeadingGoFlags(['-json', 'status'], new Set(['daemon']), new Set(['version']))).toThrow(/-json: not a flag of its own/);
  });
});
