// vcsim as it is: ExportSnapshot serves a VM's disk as the 201-byte VMDK text
// descriptor vcsim keeps, not as disk data. The export must not publish that as
// the disk, whatever the format: the transfer fails SourceNotADisk (final) and
// nothing that looks complete is left in the output.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { govc } from '../harness/govc.js';
import { startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const temporal = useWorkerAndClient(config);

describe('a lease that serves a bare VMDK descriptor (pristine vcsim)', () => {
  it.each(['ovf', 'qcow2'] as const)('format %s: fails SourceNotADisk, publishes nothing', async (format) => {
    const name = `desc-${format}-${randomBytes(3).toString('hex')}`;
    // Created by govc and left as vcsim made it: no content written into the disk.
    await govc(services, ['vm.create', '-m', '128', '-c', '1', '-g', 'ubuntu64Guest', '-net', 'VM Network', '-ds', 'LocalDS_0', '-pool', '/DC0/host/DC0_C0/Resources', '-disk', '8MB', '-on=true', name]);
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(`desc-${name}`, `/DC0/vm/${name}`, { kind: 'local', directory: outDir }, { method: 'ovf', format, options: { snapshot: true } }),
    );
    const err = (await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    )) as { cause?: { type?: string; message?: string } } | undefined;
    expect(err?.cause?.type).toBe('SourceNotADisk');
    expect(err?.cause?.message).toMatch(/VMDK text descriptor/);
    const left = existsSync(outDir) ? readdirSync(outDir) : [];
    expect(left.filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(left.filter((n) => n.endsWith('.partial') || n.endsWith('.verified'))).toEqual([]);
  });
});
