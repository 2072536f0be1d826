// A page blob served as Azure serves a managed-disk snapshot after GrantAccess (a
// fixed VHD behind a read SAS), exported through the extent engine into raw and
// qcow2 and judged by qemu-img against the seeded disk. A relay in front of
// Azurite counts what was fetched: only allocated pages (and the footer, once).
import { ApplicationFailure } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { qemuImg } from '../../src/formats/qcow2/test-support.js';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { PageBlobSource, type PageBlobSourceOptions } from '../../src/providers/azure/page-blob-source.js';
import { openImageDiskWriter } from '../../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../../src/storage/local-sink.js';
import { transferExtents } from '../../src/transfer/extent-transfer.js';
import type { TransferCheckpoint } from '../../src/transfer/types.js';
import { startBlobCounter, type BlobCounter } from '../harness/azure-blob-counter.js';
import { blobSasUrl, type AzureAccount } from '../harness/azure-sas.js';
import { footerChecksum, seedPageBlob, writeExpectedImage, type SeededBlob } from '../harness/azure-seed.js';

const azure = inject('azure');
const MiB = 2 ** 20;
const DISK = 512 * MiB;
// The first pages, small runs with long gaps, a run longer than one 4 MiB read
// that is not a multiple of it, and the very last pages before the footer.
const RANGES = [
  { offset: 0, length: 64 * 1024 },
  { offset: 1 * MiB + 512, length: 3 * 512 },
  { offset: 100 * MiB, length: 9 * MiB + 4096 },
  { offset: 300 * MiB - 8192, length: 8192 },
  { offset: 300 * MiB, length: 512 },
  { offset: DISK - 12 * 1024, length: 12 * 1024 },
];
const ALLOCATED = RANGES.reduce((sum, r) => sum + r.length, 0);

let dir: string;
let seeded: SeededBlob;
let expected: string;
let relay: BlobCounter;
/** Azurite's blob endpoint, reached through the counting relay. */
let viaRelay: AzureAccount;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hyper-azure-'));
  seeded = await seedPageBlob(azure, { container: 'snapshots', blob: 'disk0.vhd', diskBytes: DISK, ranges: RANGES });
  expected = await writeExpectedImage(seeded, join(dir, 'expected.raw'));
  relay = await startBlobCounter(azure.blobEndpoint);
  viaRelay = { ...azure, blobEndpoint: `${relay.origin}/${azure.account}` };
});

afterAll(async () => {
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

function sasFor(blob: SeededBlob, seconds: number, account: AzureAccount = viaRelay): () => Promise<{ url: string }> {
  return () => Promise.resolve({ url: blobSasUrl(account, { container: blob.container, blob: blob.blob, expiresAt: new Date(Date.now() + seconds * 1000) }) });
}

async function exportBlob(source: PageBlobSource, format: 'raw' | 'qcow2', name: string) {
  const sink = new LocalSink(dir);
  const writer = await openImageDiskWriter(sink, { name, format, virtualSize: source.sizeBytes, source: 'raw', stage: false });
  try {
    return await transferExtents({ source, writer, signal: new AbortController().signal, onCheckpoint: () => undefined });
  } finally {
    await sink.close();
    await source.close();
  }
}

async function expectIdentical(image: string, format: 'raw' | 'qcow2'): Promise<void> {
  if (format === 'qcow2') await expectValidCopy(image, expected, DISK);
  else expect((await qemuImg('compare', '-f', 'raw', '-F', 'raw', image, expected)).stdout).toContain('Images are identical');
}

/** Whether [start, end] lies inside the written pages of `blob` (ranges that touch are one) or its footer. */
function insideWritten(blob: SeededBlob, start: number, end: number): boolean {
  if (start >= blob.diskBytes && end < blob.diskBytes + 512) return true;
  const runs: { start: number; end: number }[] = [];
  for (const w of blob.written) {
    const last = runs[runs.length - 1];
    if (last && last.end === w.offset) last.end = w.offset + w.data.length;
    else runs.push({ start: w.offset, end: w.offset + w.data.length });
  }
  return runs.some((r) => start >= r.start && end < r.end);
}

async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('a page blob through the extent engine', () => {
  it.each(['qcow2', 'raw'] as const)('%s: only allocated pages are fetched, and the image is the disk without its footer', async (format) => {
    relay.reset();
    const source = await PageBlobSource.open({ sas: sasFor(seeded, 3600), concurrency: 4 });
    expect(source.sizeBytes).toBe(DISK);
    expect(source.identity().etag).toMatch(/\S/);
    const result = await exportBlob(source, format, `disk.${format}`);
    expect(result.bytesReceived).toBe(ALLOCATED);
    await expectIdentical(join(dir, `disk.${format}`), format);
    // What the blob served: the allocated pages once, plus the footer at open; nothing else.
    const reads = relay.reads(`/${azure.account}/snapshots/disk0.vhd`);
    expect(reads.every((r) => r.status === 206)).toBe(true);
    expect(reads.every((r) => insideWritten(seeded, r.start, r.end))).toBe(true);
    expect(reads.reduce((sum, r) => sum + r.bytes, 0)).toBe(ALLOCATED + 512);
    expect(Math.max(...reads.map((r) => r.end - r.start + 1))).toBeLessThanOrEqual(source.maxReadBytes);
    expect(source.maxReadBytes).toBe(8 * MiB);
    expect(source.renewals).toBe(0);
  });

  it('lists page ranges window by window: a range across windows is one extent, the footer is never listed', async () => {
    relay.reset();
    const source = await PageBlobSource.open({ sas: sasFor(seeded, 3600), pageRangeWindowBytes: 100 * MiB });
    const extents = [];
    for await (const e of source.allocated(0, new AbortController().signal)) extents.push({ offset: e.offset, length: e.length });
    await source.close();
    // [300 MiB - 8192, 300 MiB) and [300 MiB, +512) touch across the window boundary at 300 MiB: one extent.
    expect(extents).toEqual([
      { offset: 0, length: 64 * 1024 },
      { offset: 1 * MiB + 512, length: 3 * 512 },
      { offset: 100 * MiB, length: 9 * MiB + 4096 },
      { offset: 300 * MiB - 8192, length: 8192 + 512 },
      { offset: DISK - 12 * 1024, length: 12 * 1024 },
    ]);
    expect(relay.pageListCalls()).toBe(Math.ceil(DISK / (100 * MiB)));
  });

  it('lists from a resume point: the extent holding it first, nothing before', async () => {
    const source = await PageBlobSource.open({ sas: sasFor(seeded, 3600), pageRangeWindowBytes: 32 * MiB });
    const extents = [];
    for await (const e of source.allocated(104 * MiB + 100, new AbortController().signal)) extents.push(e.offset);
    await source.close();
    expect(extents).toEqual([104 * MiB, 300 * MiB - 8192, DISK - 12 * 1024]);
  });
});

describe('a transfer stopped mid-way (as a killed worker is)', () => {
  it('resumes at its checkpoint over the same blob: nothing before it is fetched again, and the image is the disk', async () => {
    // Many small ranges, read one at a time and slowly, so the stop comes between checkpoints.
    const ranges = Array.from({ length: 120 }, (_, i) => ({ offset: i * 2 * MiB, length: 64 * 1024 }));
    const blob = await seedPageBlob(azure, { container: 'snapshots', blob: 'resumed.vhd', diskBytes: 256 * MiB, ranges });
    const image = await writeExpectedImage(blob, join(dir, 'resumed-expected.raw'));
    const slow = await startBlobCounter(azure.blobEndpoint, { readDelayMs: 10 });
    const account = { ...azure, blobEndpoint: `${slow.origin}/${azure.account}` };
    const sink = new LocalSink(dir);
    const name = 'resumed.qcow2';
    const stop = new AbortController();
    let last: TransferCheckpoint | undefined;
    const relays = [slow];
    try {
      const first = await PageBlobSource.open({ sas: sasFor(blob, 3600, account), concurrency: 1 });
      const writer = await openImageDiskWriter(sink, { name, format: 'qcow2', virtualSize: first.sizeBytes, source: 'raw', stage: false });
      const stopped = await transferExtents({
        source: first,
        writer,
        signal: stop.signal,
        checkpointEveryMs: 20,
        onCheckpoint: (cp) => {
          last = JSON.parse(JSON.stringify(cp)) as TransferCheckpoint; // as a heartbeat carries it
          if (cp.offset >= 40 * 2 * MiB) stop.abort(new Error('stopped as a killed worker would be'));
        },
      }).catch((err: unknown) => err);
      await first.close();
      expect((stopped as Error).message).toContain('killed worker');
      const resumeAt = last!.offset;
      const before = ranges.filter((r) => r.offset + r.length <= resumeAt).length;
      expect(before).toBeGreaterThanOrEqual(40);
      expect(before).toBeLessThan(ranges.length);
      expect(last!.source).toMatchObject({ sizeBytes: 256 * MiB, etag: first.identity().etag });

      // A relay of its own: a read the stop cancelled may still reach the first one late.
      const counter = await startBlobCounter(azure.blobEndpoint);
      relays.push(counter);
      const second = await PageBlobSource.open({ sas: sasFor(blob, 3600, { ...azure, blobEndpoint: `${counter.origin}/${azure.account}` }), concurrency: 4 });
      const resumed = await openImageDiskWriter(sink, { name, format: 'qcow2', virtualSize: second.sizeBytes, source: 'raw', stage: false, checkpoint: { offset: last!.offset, sink: last!.sink } });
      const result = await transferExtents({ source: second, writer: resumed, checkpoint: last!, signal: new AbortController().signal, onCheckpoint: () => undefined });
      await second.close();
      expect(result.resumedFromOffset).toBe(resumeAt);
      // Only what lies at or after the checkpoint was fetched (and the footer, at open).
      const fetched = counter.reads().filter((r) => r.start < blob.diskBytes);
      expect(fetched.every((r) => r.end >= resumeAt)).toBe(true);
      expect(fetched.length).toBe(ranges.length - before);
      await expectValidCopy(join(dir, name), image, 256 * MiB);
    } finally {
      await sink.close();
      await Promise.all(relays.map((r) => r.close()));
    }
  });
});

describe('a SAS that expires', () => {
  it('mid-transfer is renewed when the blob refuses it (403), and the transfer completes', async () => {
    const slow = await startBlobCounter(azure.blobEndpoint, { readDelayMs: 400 });
    // This process's clock runs 2.5 s behind the service's: the first SAS (three
    // seconds, by the service's clock) is still valid here when Azurite starts
    // refusing it, so the refusal itself, a real 403, must lead to the renewal.
    const firstSas = sasFor(seeded, 3, { ...azure, blobEndpoint: `${slow.origin}/${azure.account}` });
    const first = await firstSas();
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() - 2500);
    try {
      const account = { ...azure, blobEndpoint: `${slow.origin}/${azure.account}` };
      let asked = 0;
      // GrantAccess again gives an hour.
      const sas: PageBlobSourceOptions['sas'] = () => {
        asked++;
        return asked === 1 ? Promise.resolve(first) : sasFor(seeded, 3600, account)();
      };
      const source = await PageBlobSource.open({ sas, concurrency: 2, maxReadBytes: MiB / 2, renewBeforeMs: 0 });
      await exportBlob(source, 'qcow2', 'renewed.qcow2');
      expect(source.renewals).toBeGreaterThanOrEqual(1);
      expect(asked).toBe(source.renewals + 1);
      // The blob did refuse the expired SAS: the renewal answered a real 403.
      expect(slow.reads().some((r) => r.status === 403)).toBe(true);
      await expectIdentical(join(dir, 'renewed.qcow2'), 'qcow2');
    } finally {
      vi.useRealTimers();
      await slow.close();
    }
  });

  it('soon is renewed before it ends (in the second half of its life), without a refusal', async () => {
    const slow = await startBlobCounter(azure.blobEndpoint, { readDelayMs: 400 });
    try {
      const account = { ...azure, blobEndpoint: `${slow.origin}/${azure.account}` };
      let asked = 0;
      const sas: PageBlobSourceOptions['sas'] = () => {
        asked++;
        return Promise.resolve({
          url: blobSasUrl(account, { container: seeded.container, blob: seeded.blob, expiresAt: new Date(Date.now() + 3600_000) }),
          // The first grant says it ends in four seconds: renewed two seconds in, before the blob would refuse it.
          expiresAt: new Date(Date.now() + (asked === 1 ? 4000 : 3600_000)),
        });
      };
      const source = await PageBlobSource.open({ sas, concurrency: 2, maxReadBytes: MiB / 2, renewBeforeMs: 3000 });
      await exportBlob(source, 'raw', 'early.raw');
      expect(source.renewals).toBe(1);
      expect(slow.reads().every((r) => r.status === 206)).toBe(true);
      await expectIdentical(join(dir, 'early.raw'), 'raw');
    } finally {
      await slow.close();
    }
  });

  it('shorter-lived than the renewal margin is not renewed at every request', async () => {
    relay.reset();
    let asked = 0;
    // Every grant lives 40 s, less than the two minutes a SAS is renewed before it ends.
    const sas: PageBlobSourceOptions['sas'] = () => (asked++, sasFor(seeded, 40)());
    const source = await PageBlobSource.open({ sas, concurrency: 4 });
    await exportBlob(source, 'raw', 'short-grants.raw');
    expect(source.renewals).toBe(0);
    expect(asked).toBe(1);
    await expectIdentical(join(dir, 'short-grants.raw'), 'raw');
  });
});

describe('a refused SAS', () => {
  it.each([
    ['signed for another blob', { signedBlob: 'another.vhd' }],
    ['signed with a key the account no longer has (revoked)', { key: randomBytes(64).toString('base64') }],
  ] as const)('%s: SourceRefused, final, and the message carries no signature', async (_, spoil) => {
    const url = blobSasUrl(viaRelay, { container: seeded.container, blob: seeded.blob, expiresAt: new Date(Date.now() + 3600_000), ...spoil });
    const sig = new URL(url).searchParams.get('sig')!;
    let asked = 0;
    const err = await refusal(PageBlobSource.open({ sas: () => (asked++, Promise.resolve({ url })) }));
    expect(err.type).toBe('SourceRefused');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/403/);
    expect(err.message).toContain('snapshots/disk0.vhd');
    expect(err.message).not.toContain('sig=');
    expect(err.message).not.toContain(sig);
    expect(err.message).not.toContain(encodeURIComponent(sig));
    expect(asked).toBe(1); // not expired: not renewed
  });

  it('for a blob that does not exist: SourceRefused (404)', async () => {
    const url = blobSasUrl(viaRelay, { container: seeded.container, blob: 'missing.vhd', expiresAt: new Date(Date.now() + 3600_000) });
    const err = await refusal(PageBlobSource.open({ sas: () => Promise.resolve({ url }) }));
    expect(err.type).toBe('SourceRefused');
    expect(err.message).toMatch(/404/);
    expect(err.message).not.toContain('sig=');
  });
});

describe('a blob that is not a fixed VHD', () => {
  const cases: [string, (f: Buffer) => void, RegExp][] = [
    ['a wrong cookie', (f) => f.write('notavhd!', 0, 'ascii'), /cookie/],
    ['a wrong checksum', (f) => f.writeUInt32BE((f.readUInt32BE(64) + 1) >>> 0, 64), /checksum/],
    [
      'a dynamic disk type',
      (f) => {
        f.writeUInt32BE(3, 60);
        f.writeUInt32BE(footerChecksum(f), 64);
      },
      /dynamic/,
    ],
    [
      'a current size other than the blob less its footer',
      (f) => {
        f.writeBigUInt64BE(BigInt(2 * MiB), 48);
        f.writeUInt32BE(footerChecksum(f), 64);
      },
      /current size/,
    ],
  ];
  it.each(cases)('%s: SourceNotADisk naming it', async (what, spoilFooter, named) => {
    const blob = await seedPageBlob(azure, { container: 'broken', blob: `${what.replace(/\W+/g, '-')}.vhd`, diskBytes: MiB, ranges: [{ offset: 0, length: 4096 }], spoilFooter });
    const err = await refusal(PageBlobSource.open({ sas: sasFor(blob, 3600) }));
    expect(err.type).toBe('SourceNotADisk');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(named);
  });
});

describe('a busy account', () => {
  it('answers 503 ServerBusy: the reads back off and try again, and the image is the disk', async () => {
    const busy = await startBlobCounter(azure.blobEndpoint, { busyReads: 6 });
    try {
      const account = { ...azure, blobEndpoint: `${busy.origin}/${azure.account}` };
      const source = await PageBlobSource.open({ sas: sasFor(seeded, 3600, account), concurrency: 2 });
      const result = await exportBlob(source, 'raw', 'busy.raw');
      expect(busy.reads().filter((r) => r.status === 503)).toHaveLength(6);
      expect(result.bytesReceived).toBe(ALLOCATED);
      await expectIdentical(join(dir, 'busy.raw'), 'raw');
    } finally {
      await busy.close();
    }
  });
});

describe('a read corrupted on the way', () => {
  it('with verifyMd5, fails its MD5, is read again, and the image is still the disk', async () => {
    // The first two answers for the first extent arrive with a byte flipped.
    const faulty = await startBlobCounter(azure.blobEndpoint, { corrupt: { start: 0, times: 2 } });
    try {
      const account = { ...azure, blobEndpoint: `${faulty.origin}/${azure.account}` };
      const source = await PageBlobSource.open({ sas: sasFor(seeded, 3600, account), concurrency: 1, verifyMd5: true });
      const refused: string[] = [];
      const read = source.read.bind(source);
      source.read = (extent, signal) =>
        read(extent, signal).catch((err: unknown) => {
          refused.push(`${extent.offset}: ${(err as Error).message}`);
          throw err;
        });
      const result = await exportBlob(source, 'raw', 'corrupted.raw');
      expect(refused).toHaveLength(2);
      expect(refused.every((r) => r.startsWith('0: ') && r.includes('does not match its MD5'))).toBe(true);
      expect(result.bytesReceived).toBe(ALLOCATED);
      expect(faulty.reads().filter((r) => r.start === 0 && r.status === 206)).toHaveLength(3);
      await expectIdentical(join(dir, 'corrupted.raw'), 'raw');
    } finally {
      await faulty.close();
    }
  });
});
