import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DAEMON_ENV, DAEMON_NODE_FLAGS, daemonCommand, missingDaemonSettings } from './process-settings.js';

const file = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('process settings of hypervisord', () => {
  it('are the ones the systemd unit and the image start it with', () => {
    const unit = file('deploy/hypervisord.service');
    const execStart = unit.split('\n').find((l) => l.startsWith('ExecStart='))!;
    for (const flag of DAEMON_NODE_FLAGS) expect(execStart).toMatch(new RegExp(`\\bnode ${flag} `));
    for (const [name, value] of Object.entries(DAEMON_ENV)) expect(unit).toContain(`\nEnvironment=${name}=${value}\n`);

    const image = file('Dockerfile');
    const envLines = image.split('\n').filter((l) => l.startsWith('ENV '));
    expect(envLines.some((l) => l.includes(`NODE_OPTIONS=${DAEMON_NODE_FLAGS.join(' ')} `) || l.endsWith(`NODE_OPTIONS=${DAEMON_NODE_FLAGS.join(' ')}`))).toBe(true);
    for (const [name, value] of Object.entries(DAEMON_ENV)) expect(envLines.some((l) => l.split(/\s+/).includes(`${name}=${value}`))).toBe(true);
  });

  it('names what a process was started without', () => {
    expect(missingDaemonSettings([], {})).toEqual(['node --max-semi-space-size=2', 'MALLOC_ARENA_MAX=2']);
    expect(missingDaemonSettings(['--max-semi-space-size=2'], { MALLOC_ARENA_MAX: '2' })).toEqual([]);
    // An operator's own values count, through NODE_OPTIONS too, in V8's underscore spelling too.
    expect(missingDaemonSettings([], { NODE_OPTIONS: '--max_semi_space_size=8', MALLOC_ARENA_MAX: '4' })).toEqual([]);
    expect(missingDaemonSettings(['--max-semi-space-size', '4'], {})).toEqual(['MALLOC_ARENA_MAX=2']);
  });

  it('daemonCommand puts the flags before the script and keeps a value the caller set', () => {
    expect(daemonCommand('/x/bin/hypervisord.js', ['-config', 'c.yaml'], { MALLOC_ARENA_MAX: '8', A: 'b' })).toEqual({
      args: ['--max-semi-space-size=2', '/x/bin/hypervisord.js', '-config', 'c.yaml'],
      env: { MALLOC_ARENA_MAX: '8', A: 'b' },
    });
  });
});
