// Archives written by GNU tar (gnu, pax and ustar formats) and by node-tar, which
// packs the OVAs: each member found where the archivers put it, byte for byte.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { describe, expect, it } from 'vitest';
import type { FinishedFileReader } from '../storage/sink.js';
import { openTarMember } from '../storage/finished-tar-member.js';
import { findTarMember, TarReadError } from './tar-member.js';

const dir = mkdtempSync(join(tmpdir(), 'tar-member-'));
const LONG = `${'a-very-long-directory-name-'.repeat(3)}/${'and-a-long-file-name-'.repeat(4)}disk1.qcow2`;
const files: Record<string, Buffer> = {
  'vm.ovf': Buffer.from('<Envelope/>\n'),
  'vm.mf': Buffer.from('SHA256(vm-disk1.qcow2)= 00\n'),
  'vm-disk1.qcow2': randomBytes(70_000),
  [LONG]: randomBytes(1_234),
  'empty.raw': Buffer.alloc(0),
};
for (const [name, data] of Object.entries(files)) {
  const path = join(dir, 'src', name);
  execFileSync('mkdir', ['-p', join(path, '..')]);
  writeFileSync(path, data);
}
const names = Object.keys(files);

async function reader(path: string): Promise<FinishedFileReader & { closed: () => boolean }> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  let closed = false;
  return {
    uri: path,
    sizeBytes: size,
    version: 'v1',
    cheapScan: true,
    read: (buffer, offset, length, position) => fh.read(buffer, offset, length, position),
    close: async () => {
      closed = true;
      await fh.close();
    },
    closed: () => closed,
  };
}

async function expectMembers(archive: string): Promise<void> {
  for (const name of names) {
    const member = await openTarMember(await reader(archive), name);
    expect(member, name).toBeDefined();
    const data = Buffer.alloc(member!.sizeBytes + 10);
    // Reads are bounded to the member: asking past its end gives only its bytes.
    const { bytesRead } = await member!.read(data, 0, data.length, 0);
    expect(data.subarray(0, bytesRead).equals(files[name]!), name).toBe(true);
    expect(member!.uri).toBe(`${archive}#${name}`);
    expect(member!.cheapScan).toBe(false);
    await member!.close();
  }
  const missing = await reader(archive);
  expect(await openTarMember(missing, 'vm-disk2.qcow2')).toBeUndefined();
  expect(missing.closed()).toBe(true);
}

describe('tar members', () => {
  it.each(['gnu', 'pax', 'ustar'])('finds every member of a GNU tar archive in %s format', async (format) => {
    const archive = join(dir, `gnu-${format}.tar`);
    execFileSync('tar', ['-c', `--format=${format}`, '-f', archive, '-C', join(dir, 'src'), ...names]);
    await expectMembers(archive);
  });

  it('finds every member of a node-tar archive (as OVAs are packed), with its pax headers', async () => {
    const archive = join(dir, 'node-tar.tar');
    await createTar({ file: archive, cwd: join(dir, 'src'), portable: true }, names);
    await expectMembers(archive);
  });

  it('refuses a file that is not a tar archive, and one cut inside a member, naming the archive', async () => {
    const notTar = join(dir, 'not.tar');
    await writeFile(notTar, randomBytes(4096));
    await expect(findTarMember(await reader(notTar), 'vm.ovf')).rejects.toThrow(TarReadError);
    const whole = await readFile(join(dir, 'gnu-pax.tar'));
    const cut = join(dir, 'cut.tar');
    const member = (await findTarMember(await reader(join(dir, 'gnu-pax.tar')), 'vm-disk1.qcow2'))!;
    await writeFile(cut, whole.subarray(0, member.offset + 100));
    const archive = await reader(cut);
    await expect(openTarMember(archive, LONG)).rejects.toThrow(/runs past the archive's end/);
    expect(archive.closed()).toBe(true);
  });
});
