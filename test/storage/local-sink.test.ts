import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  link,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packOva } from '../../src/activities/ova.js';
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
      await expect(sink.openDiskWriter(name, {})).rejects.toSatisfy(
        (e) => typeOf(e) === 'OutputPathNotAllowed',
      );
      await expect(sink.writeFile(name, 'x')).rejects.toSatisfy((e) => typeOf(e) === 'OutputPathNotAllowed');
    },
  );

  it('rejects a symlinked subdirectory that leads outside', async () => {
    await symlink(outside, join(dir, 'link'));
    const sink = new LocalSink(dir);
    await expect(sink.writeFile('link/evil.ovf', 'x')).rejects.toSatisfy(
      (e) => typeOf(e) === 'OutputPathNotAllowed',
    );
    expect(existsSync(join(outside, 'evil.ovf'))).toBe(false);
  });

  it('refuses to follow a symlink planted as the partial file', async () => {
    await writeFile(join(outside, 'target'), 'keep');
    await symlink(join(outside, 'target'), join(dir, '.disk.vmdk.partial'));
    const sink = new LocalSink(dir);
    await expect(sink.openDiskWriter('disk.vmdk', {})).rejects.toSatisfy(
      (e) => typeOf(e) === 'OutputNotAllowed',
    );
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

// The worker's own rules for local output (output-directory.ts): the directory is
// checked against the allowed roots and opened once; files are created exclusively
// and never through anything someone else put in the way.
describe('LocalSink: files and directories it did not create', () => {
  let base: string;
  let root: string;
  let outside: string;
  const umask = process.umask();
  const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hyper-rules-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    await mkdir(root);
    await mkdir(outside);
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('refuses a directory outside the allowed roots, symlinks resolved, and creates nothing there', async () => {
    await expect(
      new LocalSink(join(outside, 'job'), { allowedRoots: [root] }).writeFile('vm.ovf', 'x'),
    ).rejects.toSatisfy(
      (e) => typeOf(e) === 'OutputNotAllowed' && /output\.allowed_roots/.test((e as Error).message),
    );
    await symlink(outside, join(root, 'escape'));
    const sink = new LocalSink(join(root, 'escape', 'job'), { allowedRoots: [root] });
    await expect(sink.writeFile('vm.ovf', 'x')).rejects.toSatisfy((e) => typeOf(e) === 'OutputNotAllowed');
    expect(await readdir(outside)).toEqual([]);
  });

  it('creates its files 0640 and its directories 0750', async () => {
    const sink = new LocalSink(join(root, 'a', 'b'), { allowedRoots: [root] });
    await sink.writeFile('sub/vm.ovf', '<Envelope/>');
    const w = await sink.openDiskWriter('disk.vmdk', { stage: true });
    await w.write(Buffer.alloc(8192, 1));
    await w.flush();
    expect(await modeOf(join(root, 'a', 'b', '.disk.vmdk.partial'))).toBe(0o640 & ~umask);
    await w.finish();
    await w.close();
    await sink.writeStaged('disk.vmdk', {
      version: 1,
      jobId: 'j',
      verified: true,
      source: {},
      updatedAt: new Date().toISOString(),
    });
    await sink.archives.create('vm.ova', 4096);
    for (const d of ['a', 'a/b', 'a/b/sub']) expect(await modeOf(join(root, d)), d).toBe(0o750 & ~umask);
    for (const f of [
      'a/b/sub/vm.ovf',
      'a/b/.disk.vmdk.verified',
      'a/b/.disk.vmdk.state.json',
      'a/b/.vm.ova.partial',
    ]) {
      expect(await modeOf(join(root, f)), f).toBe(0o640 & ~umask);
    }
    await sink.close();
  });

  it('a pre-created partial with another link, or a symlink at the OVA partial, is refused and not written through', async () => {
    const sink = new LocalSink(root, { allowedRoots: [root] });
    // A hard link: the file is also someone's elsewhere.
    await writeFile(join(outside, 'theirs'), 'keep');
    await link(join(outside, 'theirs'), join(root, '.disk.vmdk.partial'));
    await expect(sink.openDiskWriter('disk.vmdk', {})).rejects.toSatisfy(
      (e) => typeOf(e) === 'OutputNotAllowed',
    );
    await symlink(join(outside, 'theirs'), join(root, '.vm.ova.partial'));
    await expect(sink.archives.create('vm.ova', 1 << 20)).rejects.toSatisfy(
      (e) => typeOf(e) === 'OutputNotAllowed',
    );
    await expect(
      sink.archives.openRegion('vm.ova', { name: 'd', dataOffset: 512, sizeBytes: 512 }, {}),
    ).rejects.toSatisfy((e) => typeOf(e) === 'OutputNotAllowed');
    expect(readFileSync(join(outside, 'theirs'), 'utf8')).toBe('keep');
    expect((await stat(join(outside, 'theirs'))).size).toBe(4);
  });

  it.runIf(process.getuid?.() === 0)(
    "a partial owned by another user (mode 0666) is refused, keeps its bytes and isn't reused",
    async () => {
      const partial = join(root, '.disk.vmdk.partial');
      await writeFile(partial, 'theirs', { mode: 0o666 });
      await chown(partial, 12345, 12345);
      await chmod(partial, 0o666);
      const sink = new LocalSink(root, { allowedRoots: [root] });
      const err = await sink.openDiskWriter('disk.vmdk', {}).catch((e: unknown) => e);
      expect(typeOf(err)).toBe('OutputNotAllowed');
      expect((err as Error).message).toMatch(/uid 12345/);
      expect(readFileSync(partial, 'utf8')).toBe('theirs');
      const st = await stat(partial);
      expect([st.uid, st.mode & 0o777]).toEqual([12345, 0o666]);
    },
  );

  it('resumes its own partial (reopened, not recreated)', async () => {
    const sink = new LocalSink(root, { allowedRoots: [root] });
    const first = await sink.openDiskWriter('disk.vmdk', {});
    await first.write(Buffer.alloc(8192, 7));
    await first.flush();
    const cp = await first.commit();
    await first.close();
    const second = await sink.openDiskWriter('disk.vmdk', {
      checkpoint: { offset: cp.offset, sink: cp.state },
    });
    expect(second.resumeOffset).toBe(8192);
    await second.close();
  });

  it('a symlink swapped in for the opened directory redirects nothing: files land in the directory that was opened', async () => {
    const dir = join(root, 'job');
    const sink = new LocalSink(dir, { allowedRoots: [root] });
    // The first call checks and opens the directory.
    expect(await sink.existing(['vm.ovf'])).toEqual([]);
    // After the check: the directory is moved away and a symlink to elsewhere takes its name.
    await rename(dir, join(root, 'moved'));
    await symlink(outside, dir);
    await sink.writeFile('vm.ovf', '<Envelope/>');
    const w = await sink.openDiskWriter('disk.vmdk', {});
    await w.write(Buffer.alloc(4096, 9));
    await w.finish();
    await w.close();
    await sink.writeStaged('x.vmdk', {
      version: 1,
      jobId: 'j',
      verified: false,
      source: {},
      updatedAt: new Date().toISOString(),
    });
    await packOva(sink, 'vm.ova', ['vm.ovf', 'disk.vmdk']);
    expect(await readdir(outside)).toEqual([]);
    expect((await readdir(join(root, 'moved'))).sort()).toEqual([
      '.x.vmdk.state.json',
      'disk.vmdk',
      'vm.ova',
      'vm.ovf',
    ]);
    expect(await modeOf(join(root, 'moved', 'vm.ova'))).toBe(0o640 & ~umask);
    expect(await sink.listComplete()).toEqual(['disk.vmdk', 'vm.ova', 'vm.ovf']);
  });

  it('packOva refuses a symlink at its partial name', async () => {
    const sink = new LocalSink(root, { allowedRoots: [root] });
    await sink.writeFile('vm.ovf', '<Envelope/>');
    await writeFile(join(outside, 'theirs'), 'keep');
    await symlink(join(outside, 'theirs'), join(root, '.vm.ova.partial'));
    await expect(packOva(sink, 'vm.ova', ['vm.ovf'])).rejects.toSatisfy(
      (e) => typeOf(e) === 'OutputNotAllowed',
    );
    expect(readFileSync(join(outside, 'theirs'), 'utf8')).toBe('keep');
    await sink.close();
  });
});
