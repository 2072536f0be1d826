// The transfer engine writing raw and qcow2 images: from a streamOptimized VMDK
// made by qemu-img and served over HTTP the way a lease device serves it (no
// Range, decoded on the fly), and from a disk's own bytes (ranged, resumable).
// qemu-img judges every output against the raw disk it came from.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { openImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import type { TransferCheckpoint } from '../../src/transfer/types.js';
import { attempt, failureType, isRetryable } from './helpers/run.js';
import { sha256Hex, startSourceServer, type SourceServer } from './helpers/source-server.js';
import { patternedDisk } from './helpers/patterned-disk.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const DISK = 48 * MiB;

let dir: string;
let rawPath: string;
let vmdk: Buffer;
let server: SourceServer;
const disk = patternedDisk(DISK);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hyper-image-'));
  rawPath = join(dir, 'source.raw');
  const fh = await open(rawPath, 'w');
  await fh.write(disk, 0, disk.length, 0);
  await fh.close();
  const vmdkPath = join(dir, 'source.vmdk');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawPath, vmdkPath]);
  vmdk = readFileSync(vmdkPath);
  server = await startSourceServer(1);
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function transferImage(out: string, name: string, format: 'raw' | 'qcow2', source: 'raw' | 'sniff', checkpoint?: TransferCheckpoint) {
  const sink = new LocalSink(out);
  const writer = await openImageDiskWriter(sink, { name, format, virtualSize: DISK, source, stage: false, ...(checkpoint ? { checkpoint } : {}) });
  try {
    const a = await attempt(sink, name, server.url, { writer, ...(checkpoint ? { checkpoint } : {}), checkpointEveryMs: 50 });
    return { result: a.result, error: a.error, checkpoints: a.checkpoints.map((c) => c.cp) };
  } finally {
    await writer.close().catch(() => undefined);
    await sink.close();
  }
}

async function expectIdenticalRaw(path: string): Promise<void> {
  const compare = await qemuImg('compare', '-f', 'raw', '-F', 'raw', path, rawPath);
  expect(compare.stdout).toContain('Images are identical');
  expect(compare.code).toBe(0);
}

describe('a streamOptimized VMDK served like a lease device, decoded on the fly', () => {
  it.each(['qcow2', 'raw'] as const)('becomes a %s image identical to the disk, with the SHA-256 of the file written', async (format) => {
    server.replace(vmdk);
    server.behaviour.chunked = true; // NFC streams come without a length
    const out = await mkdtemp(join(dir, `${format}-`));
    const { result, error } = await transferImage(out, `disk.${format}`, format, 'sniff');
    server.behaviour.chunked = false;
    expect(error).toBeUndefined();
    const path = join(out, `disk.${format}`);
    if (format === 'qcow2') await expectValidCopy(path, rawPath, DISK);
    else await expectIdenticalRaw(path);
    expect(result!.sha256).toBe(sha256Hex(readFileSync(path)));
    expect(result!.bytes).toBe(readFileSync(path).length);
    expect(readdirSync(out)).toEqual([`disk.${format}`]);
  });

  it('refuses a bare VMDK descriptor (what a simulator may serve) as SourceNotADisk, final, leaving nothing', async () => {
    server.replace(Buffer.from('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="streamOptimized"\n\nRW 2048 SPARSE "disk.vmdk"\n'));
    const out = await mkdtemp(join(dir, 'descriptor-'));
    const { error } = await transferImage(out, 'disk.qcow2', 'qcow2', 'sniff');
    expect(failureType(error)).toBe('SourceNotADisk');
    expect(isRetryable(error)).toBe(false);
    expect(readdirSync(out)).toEqual([]);
  });

  it('takes a stream cut short as a retryable failure, publishing nothing', async () => {
    server.replace(vmdk.subarray(0, Math.floor(vmdk.length / 2)));
    const out = await mkdtemp(join(dir, 'cut-'));
    const { error } = await transferImage(out, 'disk.qcow2', 'qcow2', 'sniff');
    expect(failureType(error)).toBe('TransferFailed');
    expect(isRetryable(error)).toBe(true);
    expect(existsSync(join(out, 'disk.qcow2'))).toBe(false);
  });

  it('refuses a stream whose capacity is not the disk size (SizeMismatch)', async () => {
    const small = join(dir, 'small.vmdk');
    await run('qemu-img', ['create', '-f', 'vmdk', '-o', 'subformat=streamOptimized', small, '16M']);
    server.replace(readFileSync(small));
    const out = await mkdtemp(join(dir, 'capacity-'));
    const { error } = await transferImage(out, 'disk.qcow2', 'qcow2', 'sniff');
    expect(failureType(error)).toBe('SizeMismatch');
    expect(readdirSync(out)).toEqual([]);
  });
});

describe("a disk's own bytes into qcow2, with a dropped connection", () => {
  it('resumes from the heartbeated qcow2 checkpoint with a ranged GET and ends identical to the disk', async () => {
    server.replace(disk);
    server.behaviour.dropAfterBytes = Math.floor(DISK * 0.6);
    server.behaviour.bytesPerSecond = 64 * MiB;
    const out = await mkdtemp(join(dir, 'resume-'));
    const first = await transferImage(out, 'disk.qcow2', 'qcow2', 'raw');
    server.behaviour.dropAfterBytes = undefined;
    server.behaviour.bytesPerSecond = undefined;
    expect(failureType(first.error)).toBe('TransferFailed');
    expect(existsSync(join(out, 'disk.qcow2'))).toBe(false);
    // A killed worker: the newest checkpoint heartbeated while bytes were flowing.
    const cp = first.checkpoints.filter((c) => c.offset > 0).at(-2);
    expect(cp).toBeDefined();
    expect(cp!.sink.kind).toBe('image');
    expect(JSON.stringify(cp).length).toBeLessThan(64 * 1024);

    const second = await transferImage(out, 'disk.qcow2', 'qcow2', 'raw', cp);
    expect(second.error).toBeUndefined();
    expect(second.result!.restartedFromZero).toBe(false);
    expect(second.result!.resumedFromOffset).toBe(cp!.offset);
    expect(cp!.offset).toBeGreaterThan(0);
    expect(server.ranges.at(-1)).toBe(`bytes=${cp!.offset}-`);
    const path = join(out, 'disk.qcow2');
    await expectValidCopy(path, rawPath, DISK);
    expect(second.result!.sha256).toBe(sha256Hex(readFileSync(path)));
  });
});
