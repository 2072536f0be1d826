// hypervisord's command line up to the point where it would start services
// (test/cli/hypervisord-original.test.ts starts it for real).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../api/version.js';
import { loadConfig } from '../config/load.js';
import { runHypervisord, withFlags } from './hypervisord.js';
import type { CliIo } from './io.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env: {} };
  const code = await runHypervisord(args, io);
  return { code, out, err };
}

/** A configuration that fails to load, so that the run stops after the flags. */
function brokenConfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hypervisord-flags-')), 'config.yaml');
  writeFileSync(file, 'daemon:\n  addr: 8080\n');
  return file;
}

describe('hypervisord command line', () => {
  it('prints its version with -version or --version', async () => {
    for (const flag of ['-version', '--version']) expect(await run([flag])).toEqual({ code: 0, out: `hypervisord version ${VERSION}\n`, err: '' });
  });

  it('takes --log-level in any case, and names a level it does not know', async () => {
    for (const level of ['INFO', 'debug', 'Warn', 'warning', 'ERROR']) {
      const r = await run(['--config', brokenConfig(), '-log-level', level]);
      // Past the flags: the (broken) configuration is what stops it.
      expect(r.code).toBe(2);
      expect(r.err).toContain('invalid configuration');
    }
    const bad = await run(['--log-level', 'loud']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--log-level "loud": give one of debug, info, warn, error');
  });

  it('takes --disable-web (and -disable-web=true), also with --mode gateway', async () => {
    for (const flags of [['--disable-web'], ['-disable-web=true'], ['--disable-web', '--mode', 'gateway']]) {
      const r = await run(['--config', brokenConfig(), ...flags]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('invalid configuration');
    }
  });
});

describe('hypervisord --log-level and --addr', () => {
  it('win over LOG_LEVEL, DAEMON_ADDR and the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypervisord-flags-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'LogLevel: error\nlog_level: error\n');
    const { config } = await loadConfig({ file, env: { HYPERSDK_DATA_DIR: dir, LOG_LEVEL: 'warn', DAEMON_ADDR: '127.0.0.1:1' } });
    expect(config.logLevel).toBe('warn');
    expect(withFlags(config, { logLevel: 'DEBUG', addr: '127.0.0.1:2' })).toMatchObject({ logLevel: 'debug', daemon: { addr: '127.0.0.1:2' } });
    expect(withFlags(config, {})).toMatchObject({ logLevel: 'warn', daemon: { addr: '127.0.0.1:1' } });
  });
});
