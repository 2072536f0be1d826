// An OVA packed after the transfers (NFC streams: sizes known only at the end)
// from the staged, verified disks: an interrupted packing resumes from its last
// heartbeat instead of copying the archive again from the first byte. GNU tar and
// sha256sum judge the archive.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  packOvaFromStaged,
  type PackCheckpoint,
  type PackOvaRequest,
} from '../../src/activities/ova-pack.js';
import type { TransferredDisk } from '../../src/activities/types.js';
import { LocalSink } from '../../src/storage/local-sink.js';

const MiB = 1024 * 1024;
const JOB = 'job-pack-1';
const memberSha = (ova: string, member: string) =>
  execFileSync('bash', ['-c', 'tar -xOf "$1" "$2" | sha256sum', 'sh', ova, member]).toString().split(' ')[0];

/** Stages `data` under `name` the way a transfer does: written, finished, recorded as verified. */
async function stageDisk(
  sink: LocalSink,
  name: string,
  data: Buffer,
  diskKey: number,
): Promise<TransferredDisk> {
  const writer = await sink.openDiskWriter(name, { sizeBytes: data.length, stage: true });
  for (let at = 0; at < data.length; at += MiB) await writer.write(data.subarray(at, at + MiB));
  await writer.flush();
  await writer.finish();
  await writer.close();
  const sha256 = createHash('sha256').update(data).digest('hex');
  await sink.writeStaged(name, {
    version: 1,
    jobId: JOB,
    verified: true,
    bytes: data.length,
    sha256,
    source: { vm: 'x' },
    updatedAt: new Date().toISOString(),
  });
  return {
    diskKey,
    fileName: name,
    bytes: data.length,
    sha256,
    resumedFromOffset: 0,
    restartedFromZero: false,
  };
}

describe('OVA packed from staged disks', () => {
  let dir: string;
  let sink: LocalSink;
  let disks: TransferredDisk[];
  let data: Buffer[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hyper-pack-'));
    sink = new LocalSink(dir);
    // Non-random halves compress nothing and make holes: a zero MiB in the middle too.
    data = [
      Buffer.concat([randomBytes(20 * MiB), Buffer.alloc(MiB), randomBytes(3 * MiB + 123)]),
      randomBytes(5 * MiB + 7),
    ];
    disks = [
      await stageDisk(sink, 'vm-disk1.vmdk', data[0]!, 2000),
      await stageDisk(sink, 'vm-disk2.vmdk', data[1]!, 2001),
    ];
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  function request(over: Partial<PackOvaRequest> = {}): PackOvaRequest {
    const descriptor = '<?xml version="1.0"?><Envelope/>\n';
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const manifest =
      `SHA256(vm.ovf)= ${sha(descriptor)}\n` +
      disks.map((d) => `SHA256(${d.fileName})= ${d.sha256}\n`).join('');
    return {
      sink,
      jobId: JOB,
      name: 'vm.ova',
      disks,
      descriptor: { name: 'vm.ovf', text: descriptor },
      manifest: { name: 'vm.mf', text: manifest },
      mtime: 1_700_000_000,
      overwrite: false,
      beat: () => undefined,
      signal: new AbortController().signal,
      commitEveryMs: 0,
      ...over,
    };
  }

  it('resumes an interrupted packing from its last heartbeat: only the bytes not yet durable are copied again, archive exact', async () => {
    const total = data[0]!.length + data[1]!.length;
    const stop = new AbortController();
    let last: PackCheckpoint | undefined;
    const first = packOvaFromStaged(
      request({
        signal: stop.signal,
        beat: (cp) => {
          last = cp;
          if ((cp.writer?.offset ?? 0) >= 12 * MiB) stop.abort();
        },
      }),
    );
    await expect(first).rejects.toBeInstanceOf(CancelledFailure);
    expect(last?.disk).toBe(0);
    const resumedAt = last!.writer!.offset;
    expect(resumedAt).toBeGreaterThanOrEqual(12 * MiB);

    const second = await packOvaFromStaged(request({ resume: last }));
    // Only what the first attempt had not made durable is copied again.
    expect(second.copiedBytes).toBe(total - resumedAt);
    expect(second.files).toEqual([{ name: 'vm.ova', sizeBytes: readFileSync(join(dir, 'vm.ova')).length }]);

    const ova = join(dir, 'vm.ova');
    expect(execFileSync('tar', ['-tf', ova]).toString().trim().split('\n')).toEqual([
      'vm.ovf',
      'vm.mf',
      'vm-disk1.vmdk',
      'vm-disk2.vmdk',
    ]);
    for (const d of disks) expect(memberSha(ova, d.fileName), d.fileName).toBe(d.sha256);
    // The archive is the export: no staged copies, records or partials are left.
    expect(readdirSync(dir)).toEqual(['vm.ova']);
  });

  it('a retry after the archive was published only finishes the clean-up', async () => {
    let last: PackCheckpoint | undefined;
    await packOvaFromStaged(request({ beat: (cp) => (last = cp) }));
    expect(last?.published).toBe(true);
    const again = await packOvaFromStaged(request({ resume: last }));
    expect(again.copiedBytes).toBe(0);
    expect(readdirSync(dir)).toEqual(['vm.ova']);
  });

  it('refuses (OutputExists) an OVA of that name that appeared from elsewhere, and leaves it as it was', async () => {
    await writeFile(join(dir, 'vm.ova'), 'not ours');
    const err = await packOvaFromStaged(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('OutputExists');
    expect(readFileSync(join(dir, 'vm.ova'), 'utf8')).toBe('not ours');
    // The verified disks are still there for a resubmit.
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.verified'))
        .sort(),
    ).toEqual(['.vm-disk1.vmdk.verified', '.vm-disk2.vmdk.verified']);
  });

  it('refuses to pack a staged copy that changed after it was verified', async () => {
    const path = join(dir, '.vm-disk2.vmdk.verified');
    const bytes = readFileSync(path);
    bytes[17] = bytes[17]! ^ 0xff;
    await writeFile(path, bytes);
    const err = await packOvaFromStaged(request()).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('SinkError');
    expect((err as Error).message).toMatch(/staged copy of vm-disk2\.vmdk changed after it was verified/);
    expect(readdirSync(dir)).not.toContain('vm.ova');
  });
});
