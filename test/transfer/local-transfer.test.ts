import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSink } from '../../src/storage/local-sink.js';
import { attempt, failureType, isRetryable } from './helpers/run.js';
import { sha256Hex, startSourceServer, type SourceServer } from './helpers/source-server.js';

const MIB = 1024 * 1024;

describe('transferDisk to a local directory', () => {
  let dir: string;
  let sink: LocalSink;
  let server: SourceServer | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hyper-transfer-'));
    sink = new LocalSink(dir);
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('copies the whole file: same SHA-256, final name only, no partial left', async () => {
    server = await startSourceServer(20 * MIB + 123);
    const a = await attempt(sink, 'disk-0.vmdk', server.url);
    expect(a.error).toBeUndefined();
    expect(a.result?.sha256).toBe(server.sha256);
    expect(a.result?.bytes).toBe(server.data.length);
    expect(sha256Hex(readFileSync(join(dir, 'disk-0.vmdk')))).toBe(server.sha256);
    expect(existsSync(join(dir, '.disk-0.vmdk.partial'))).toBe(false);
    expect(await sink.listComplete()).toEqual(['disk-0.vmdk']);
    expect(a.last?.offset).toBe(server.data.length);
  });

  it('handles a chunked response with no Content-Length', async () => {
    server = await startSourceServer(3 * MIB + 5, { chunked: true });
    const a = await attempt(sink, 'd.vmdk', server.url);
    expect(a.result?.sha256).toBe(server.sha256);
  });

  it('resumes after a drop at ~40 % from the last checkpoint; re-sends only what came after it', async () => {
    const size = 32 * MIB;
    // Bytes per second, an upper bound of the paced rate: ~0.8 s to the drop, several
    // checkpoint intervals even when a busy machine delays the timer.
    const rate = 16 * MIB;
    const intervalMs = 100;
    const dropAt = Math.floor(size * 0.4);
    server = await startSourceServer(size, { dropAfterBytes: dropAt, bytesPerSecond: rate });
    const first = await attempt(sink, 'disk.vmdk', server.url, { checkpointEveryMs: intervalMs });
    expect(failureType(first.error)).toBe('TransferFailed');
    expect(isRetryable(first.error)).toBe(true);
    expect(existsSync(join(dir, 'disk.vmdk'))).toBe(false);
    expect(existsSync(join(dir, '.disk.vmdk.partial'))).toBe(true);
    expect(await sink.listComplete()).toEqual([]);
    // Simulate a killed worker: ignore the checkpoint written while failing and use
    // the last one the interval timer produced during streaming.
    expect(first.checkpoints.length).toBeGreaterThanOrEqual(3);
    const crashCp = first.checkpoints.at(-2)?.cp;
    expect(crashCp).toBeDefined();
    expect(crashCp!.offset).toBeGreaterThan(0);

    server.behaviour.dropAfterBytes = undefined;
    server.behaviour.bytesPerSecond = undefined;
    const second = await attempt(sink, 'disk.vmdk', server.url, { checkpoint: crashCp, sizeBytes: size });
    expect(second.error).toBeUndefined();
    expect(second.result?.sha256).toBe(server.sha256);
    expect(second.result?.restartedFromZero).toBe(false);
    expect(second.result?.resumedFromOffset).toBe(crashCp!.offset);
    expect(server.ranges.at(-1)).toBe(`bytes=${crashCp!.offset}-`);
    const resent = dropAt - crashCp!.offset;
    console.log(`local resume: dropped at ${dropAt}, resumed at ${crashCp!.offset}, re-sent ${resent} bytes`);
    // What the paced server can have sent between that checkpoint and the one written at
    // the drop, plus the writer's batch and the body buffer; on an idle machine about
    // one interval's worth (the timer's cadence, which load may stretch, is not the point).
    const crashAt = first.checkpoints.at(-2)!.at;
    const dropSeenAt = first.checkpoints.at(-1)!.at;
    expect(resent).toBeLessThanOrEqual(rate * ((dropSeenAt - crashAt + intervalMs) / 1000) + 2 * MIB);
    expect(sha256Hex(readFileSync(join(dir, 'disk.vmdk')))).toBe(server.sha256);

    // The checkpoint written while failing makes the partial durable up to the drop.
    expect(first.last!.offset).toBeGreaterThanOrEqual(crashCp!.offset);
  });

  it('truncates a partial longer than the checkpoint (writes after it) before resuming', async () => {
    server = await startSourceServer(8 * MIB, { dropAfterBytes: 6 * MIB });
    const first = await attempt(sink, 'x.vmdk', server.url);
    const early = { ...first.last!, offset: 1 * MIB };
    expect(statSync(join(dir, '.x.vmdk.partial')).size).toBeGreaterThan(early.offset);
    server.behaviour.dropAfterBytes = undefined;
    const second = await attempt(sink, 'x.vmdk', server.url, { checkpoint: early });
    expect(second.result?.resumedFromOffset).toBe(early.offset);
    expect(second.result?.sha256).toBe(server.sha256);
  });

  it('starts again from zero when the server ignores Range (200), with a correct result', async () => {
    server = await startSourceServer(10 * MIB, { dropAfterBytes: 4 * MIB });
    const first = await attempt(sink, 'r.vmdk', server.url);
    expect(first.last!.offset).toBeGreaterThan(0);
    server.behaviour = { honourRange: false };
    const second = await attempt(sink, 'r.vmdk', server.url, { checkpoint: first.last });
    expect(server.ranges.at(-1)).toBe(`bytes=${first.last!.offset}-`);
    expect(second.result?.restartedFromZero).toBe(true);
    expect(second.result?.resumedFromOffset).toBe(0);
    expect(second.result?.sha256).toBe(server.sha256);
    expect(second.result?.bytesReceived).toBe(10 * MIB);
    expect(sha256Hex(readFileSync(join(dir, 'r.vmdk')))).toBe(server.sha256);
  });

  it('416 for an offset past the end → RangeNotSatisfiable and an offset-0 checkpoint', async () => {
    server = await startSourceServer(6 * MIB, { dropAfterBytes: 5 * MIB });
    const first = await attempt(sink, 's.vmdk', server.url);
    server.behaviour.dropAfterBytes = undefined;
    server.replace(server.data.subarray(0, 2 * MIB)); // the source shrank
    const second = await attempt(sink, 's.vmdk', server.url, { checkpoint: first.last });
    expect(failureType(second.error)).toBe('RangeNotSatisfiable');
    expect(second.last?.offset).toBe(0);
    const third = await attempt(sink, 's.vmdk', server.url, { checkpoint: second.last });
    expect(third.result?.sha256).toBe(server.sha256);
  });

  it('416 at exactly the end after a complete previous attempt → publishes without re-sending', async () => {
    server = await startSourceServer(3 * MIB);
    // A previous attempt that made everything durable but died before finishing.
    const writer = await sink.openDiskWriter('e.vmdk', {});
    await writer.write(server.data);
    await writer.flush();
    await writer.close();
    const cp = {
      version: 1 as const,
      offset: server.data.length,
      sink: { kind: 'local' as const },
      hash: { algorithm: 'sha256' as const, kind: 'reread-prefix' as const },
      source: { sizeBytes: server.data.length, etag: server.etag },
    };
    const a = await attempt(sink, 'e.vmdk', server.url, { checkpoint: cp });
    expect(a.error).toBeUndefined();
    expect(a.result?.bytesReceived).toBe(0);
    expect(a.result?.sha256).toBe(server.sha256);
    expect(existsSync(join(dir, 'e.vmdk'))).toBe(true);
  });

  it('a changed source (different ETag) → SourceChanged, partial reset, next attempt correct', async () => {
    server = await startSourceServer(6 * MIB, { dropAfterBytes: 3 * MIB });
    const first = await attempt(sink, 'c.vmdk', server.url);
    server.behaviour.dropAfterBytes = undefined;
    const changed = Buffer.from(server.data);
    changed[0] = (changed[0]! + 1) % 256;
    server.replace(changed);
    const second = await attempt(sink, 'c.vmdk', server.url, { checkpoint: first.last });
    expect(failureType(second.error)).toBe('SourceChanged');
    expect(isRetryable(second.error)).toBe(true);
    expect(second.last?.offset).toBe(0);
    expect(statSync(join(dir, '.c.vmdk.partial')).size).toBe(0);
    const third = await attempt(sink, 'c.vmdk', server.url, { checkpoint: second.last });
    expect(third.result?.sha256).toBe(sha256Hex(changed));
  });

  it('a stalled source fails retryably within the stall timeout and leaves a resumable partial', async () => {
    server = await startSourceServer(4 * MIB, { stallAfterBytes: 2 * MIB });
    const t0 = Date.now();
    const a = await attempt(sink, 'st.vmdk', server.url, { stallTimeoutMs: 500 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(failureType(a.error)).toBe('TransferFailed');
    expect(isRetryable(a.error)).toBe(true);
    expect(a.last?.offset).toBeGreaterThan(0);
  });

  it('cancellation stops promptly, throws the signal reason and keeps the partial', async () => {
    server = await startSourceServer(64 * MIB, { bytesPerSecond: 16 * MIB });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled by test')), 300);
    const t0 = Date.now();
    const a = await attempt(sink, 'k.vmdk', server.url, { signal: ac.signal });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((a.error as Error).message).toBe('cancelled by test');
    expect(existsSync(join(dir, '.k.vmdk.partial'))).toBe(true);
    expect(existsSync(join(dir, 'k.vmdk'))).toBe(false);
    // and it resumes from there
    server.behaviour.bytesPerSecond = undefined;
    const b = await attempt(sink, 'k.vmdk', server.url, { checkpoint: a.last });
    expect(b.result?.resumedFromOffset).toBeGreaterThan(0);
    expect(b.result?.sha256).toBe(server.sha256);
  });

  it('HTTP 404 → SourceRefused naming the file (never retried); a refused connection → retryable TransferFailed; nothing published', async () => {
    server = await startSourceServer(1024);
    const a = await attempt(sink, 'n.vmdk', server.url.replace('/disk.vmdk', '/missing'), {});
    expect(failureType(a.error)).toBe('SourceRefused');
    expect((a.error as Error).message).toMatch(/\/missing: HTTP 404 Not Found/);
    const refused = await attempt(sink, 'n2.vmdk', 'http://127.0.0.1:9/none');
    expect(failureType(refused.error)).toBe('TransferFailed');
    expect(isRetryable(refused.error)).toBe(true);
    expect(await sink.listComplete()).not.toContain('n2.vmdk');
  });
});
