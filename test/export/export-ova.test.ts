// format ova: written in place when the disk sizes are known up front (datastore
// reads), packed after the transfers otherwise (NFC streams). GNU tar and
// sha256sum judge the archive, not our own code.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { parseManifest } from '../../src/export/ovf.js';
import { exportInput, testConfig, useWorkerAndClient } from '../harness/export-env.js';
import { activityResults } from '../harness/history.js';
import { createTestVm, startExport } from './helpers.js';

const services = inject('services');
const config = testConfig(services);
const MiB = 1024 * 1024;
const temporal = useWorkerAndClient(config);

const tar = (args: string[]) => execFileSync('tar', args, { maxBuffer: 1 << 30 });
const memberSha = (ova: string, member: string) =>
  execFileSync('bash', ['-c', 'tar -xOf "$1" "$2" | sha256sum', 'sh', ova, member]).toString().split(' ')[0];

describe('format ova', () => {
  it('is written in place for datastore reads: one archive, members in OVF order, byte-exact disks, no second copy', async () => {
    const name = `ova-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 24 * MiB, poweredOn: false });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(
        `${name}-1`,
        vm.path,
        { kind: 'local', directory: outDir },
        { format: 'ova', method: 'datastore' },
      ),
    );
    const result = await handle.result();
    const ova = join(outDir, `${name}.ova`);
    expect(readdirSync(outDir)).toEqual([`${name}.ova`]);
    expect(result.ovaPath).toBe(ova);
    expect(result.files).toEqual([{ name: `${name}.ova`, sizeBytes: statSync(ova).size }]);

    // GNU tar: descriptor first, manifest second, then the disks with their sizes.
    const listing = tar(['-tvf', ova]).toString().trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual([
      `${name}.ovf`,
      `${name}.mf`,
      `${name}-disk1.vmdk`,
      `${name}-disk2.vmdk`,
    ]);
    for (const line of listing.slice(2)) expect(line.split(/\s+/)[2]).toBe(String(24 * MiB));

    // Every member matches the manifest inside, and the disks match the source.
    const manifest = parseManifest(tar(['-xOf', ova, `${name}.mf`]).toString());
    expect([...manifest.keys()].sort()).toEqual([`${name}-disk1.vmdk`, `${name}-disk2.vmdk`, `${name}.ovf`]);
    for (const [member, sha] of manifest) expect(memberSha(ova, member), member).toBe(sha);
    const diskShas = [1, 2].map((i) => manifest.get(`${name}-disk${i}.vmdk`));
    expect(diskShas.sort()).toEqual([...vm.hashes.values()].sort());
    expect(
      result.members
        ?.filter((m) => m.name.endsWith('.vmdk'))
        .map((m) => m.sha256)
        .sort(),
    ).toEqual([...vm.hashes.values()].sort());

    // In place: no packing pass, so finalize wrote only headers (it ran once, quickly).
    const plans = await activityResults<{ totalBytes: number } | null>(handle, 'prepareOva');
    expect(plans[0]?.totalBytes).toBe(statSync(ova).size);
  });

  it('is packed after the transfers for NFC streams (sizes unknown up front) from the staged disks: the archive alone, verified member by member', async () => {
    const name = `ovanfc-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB, poweredOn: true });
    const outDir = join(config.output.allowedRoots[0]!, name);
    const handle = await startExport(
      temporal.client,
      config.temporal.taskQueue,
      exportInput(
        `${name}-1`,
        vm.path,
        { kind: 'local', directory: outDir },
        { format: 'ova', method: 'ovf', options: { snapshot: true } },
      ),
    );
    const result = await handle.result();
    expect(result.method).toBe('ovf');
    const ova = join(outDir, `${name}.ova`);
    const members = tar(['-tf', ova]).toString().trim().split('\n');
    expect(members[0]).toBe(`${name}.ovf`);
    const manifest = parseManifest(tar(['-xOf', ova, `${name}.mf`]).toString());
    for (const [member, sha] of manifest) expect(memberSha(ova, member), member).toBe(sha);
    expect(manifest.get(`${name}-disk1.vmdk`)).toBe([...vm.hashes.values()][0]);
    // The archive is the export: no loose second copy of the disks, nothing staged left.
    expect(readdirSync(outDir)).toEqual([`${name}.ova`]);
    expect(result.files).toEqual([{ name: `${name}.ova`, sizeBytes: statSync(ova).size }]);
    expect(result.members?.map((m) => m.name)).toEqual([`${name}.ovf`, `${name}.mf`, `${name}-disk1.vmdk`]);
  });
});
