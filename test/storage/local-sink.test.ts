import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalDiskWriter } from '../../src/storage/local-disk-writer.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import { transferDisk } from '../../src/transfer/transfer-disk.js';
import { startSourceServer } from '../transfer/helpers/source-server.js';

function typeOf(err: unknown): string | undefined {
  return err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined;
}

describe('LocalSink', () => {
  let base: string;
  let dir: string;
  let outside: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hyper-sink-'));
    dir = join(base, 'export');
    outside = join(base, 'outside');
    await mkdir(dir);
    await mkdir(outside);
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it.each(['../x.vmdk', '/etc/passwd', 'a/../../x', 'sub/../../x', '.hidden.partial', '', 'a//b', 'x\0y'])(
    'rejects the name %j with OutputPathNotAllowed',
    async (name) => {
      const sink = new LocalSink(dir);
      await expect(sink.openDiskWriter(name, {})).rejects.toSatisfy((e) => typeOf(e) === 'OutputPathNotAllowed');
      await expect(sink.writeFile(name, 'x')).rejects.toSatisfy((e) => typeOf(e) === 'OutputPathNotAllowed');
    },
  );

  it('rejects a symlinked subdirectory that leads outside', async () => {
    await symlink(outside, join(dir, 'link'));
    const sink = new LocalSink(dir);
    await expect(sink.writeFile('link/evil.ovf', 'x')).rejects.toSatisfy((e) => typeOf(e) === 'OutputPathNotAllowed');
    expect(existsSync(join(outside, 'evil.ovf'))).toBe(false);
  });

  it('refuses to follow a symlink planted as the partial file', async () => {
    await writeFile(join(outside, 'target'), 'keep');
    await symlink(join(outside, 'target'), join(dir, '.disk.vmdk.partial'));
    const sink = new LocalSink(dir);
    await expect(sink.openDiskWriter('disk.vmdk', {})).rejects.toSatisfy((e) => typeOf(e) === 'SinkError');
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('keep');
  });

  it('writeFile publishes atomically, in a subdirectory too, and lists only complete files', async () => {
    const sink = new LocalSink(dir);
    const f = await sink.writeFile('vm.ovf', '<Envelope/>');
    await sink.writeFile('sub/vm.mf', 'SHA256(vm.ovf)= x\n');
    expect(f.uri).toBe(join(dir, 'vm.ovf'));
    expect(readFileSync(join(dir, 'vm.ovf'), 'utf8')).toBe('<Envelope/>');
    const w = await sink.openDiskWriter('disk.vmdk', {});
    await w.write(Buffer.from('partial'));
    await w.close();
    expect(existsSync(join(dir, '.disk.vmdk.partial'))).toBe(true);
    expect(await sink.listComplete()).toEqual(['sub/vm.mf', 'vm.ovf']);
    await sink.remove('disk.vmdk');
    expect(existsSync(join(dir, '.disk.vmdk.partial'))).toBe(false);
    expect(sink.describe('vm.ovf')).toBe(join(dir, 'vm.ovf'));
  });

  it('a full disk (ENOSPC from /dev/full) → retryable SinkFull from the transfer', async () => {
    const server = await startSourceServer(4 * 1024 * 1024);
    try {
      const writer = await openLocalDiskWriter(
        { name: 'full.vmdk', finalPath: join(dir, 'full.vmdk'), partialPath: '/dev/full', parentDir: dir },
        {},
        (p) => open(p, 'r+'),
      );
      const err = await transferDisk({
        source: { url: server.url, headers: {} },
        writer,
        signal: new AbortController().signal,
        onCheckpoint: () => undefined,
      }).catch((e: unknown) => e);
      expect(typeOf(err)).toBe('SinkFull');
      expect((err as ApplicationFailure).nonRetryable).toBe(false);
      expect((err as Error).message).toMatch(/ENOSPC/);
      expect(existsSync(join(dir, 'full.vmdk'))).toBe(false);
    } finally {
      await server.close();
    }
  });
});
