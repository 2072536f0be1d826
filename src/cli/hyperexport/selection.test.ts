// The original's -batch file format, -filter key=value and -folder matching, and
// Go's -switch=true|false syntax.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmRow } from './backend.js';
import { narrowVms, parseVmFilter, readBatchFile } from './selection.js';

const dir = mkdtempSync(join(tmpdir(), 'hx-sel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const vm = (path: string, power_state: string, num_cpu = 1): VmRow => ({ name: path.split('/').pop()!, path, power_state, guest_os: 'ubuntu64Guest', memory_mb: 256, num_cpu, storage_bytes: 0 });

describe('-batch', () => {
  it('one VM per line; blank lines and # comments skipped; spaces trimmed', async () => {
    const file = join(dir, 'vms.txt');
    writeFileSync(file, '# prod\n/DC0/vm/a\n\n  /DC0/vm/b  \r\n#/DC0/vm/c\n');
    expect(await readBatchFile(file)).toEqual(['/DC0/vm/a', '/DC0/vm/b']);
  });
  it('an empty list is a usage error naming the file', async () => {
    const file = join(dir, 'empty.txt');
    writeFileSync(file, '# nothing\n\n');
    await expect(readBatchFile(file)).rejects.toThrow(`-batch ${file}: no VMs in it`);
  });
});

describe('-filter and -folder', () => {
  const vms = [vm('/DC0/vm/prod/web', 'poweredOn', 2), vm('/DC0/vm/prod/db', 'poweredOff', 4), vm('/DC0/vm/test/web', 'poweredOff', 2)];
  it('key=value on the listed properties, strings ignoring case, power states as on/off too', () => {
    expect(narrowVms(vms, undefined, parseVmFilter('power_state=off')).map((v) => v.path)).toEqual(['/DC0/vm/prod/db', '/DC0/vm/test/web']);
    expect(narrowVms(vms, undefined, parseVmFilter('power=POWEREDON')).map((v) => v.path)).toEqual(['/DC0/vm/prod/web']);
    expect(narrowVms(vms, undefined, parseVmFilter('cpu=2')).map((v) => v.path)).toEqual(['/DC0/vm/prod/web', '/DC0/vm/test/web']);
    expect(narrowVms(vms, '/prod/', parseVmFilter('name=web')).map((v) => v.path)).toEqual(['/DC0/vm/prod/web']);
  });
  it('a malformed or unknown filter is a usage error that lists the keys', () => {
    expect(() => parseVmFilter('power_state')).toThrow('expected key=value');
    expect(() => parseVmFilter('owner=bob')).toThrow(/unknown key "owner"; filter on name, path, power_state/);
    expect(() => parseVmFilter('cpu=two')).toThrow('num_cpu takes a number');
  });
});
