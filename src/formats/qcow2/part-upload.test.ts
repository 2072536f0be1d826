// The writer over an output that, like an S3 multipart upload, only ever appends,
// makes durable only whole parts (the rest waits in memory for the next part),
// and after a kill can drop only whole parts. Its first part is the reserved
// head: the header and zeros, made at finish. A kill loses the part being
// filled; the checkpoint taken before it must not have claimed those bytes.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectValidCopy } from './test-judge.js';
import { feed, KiB, makeTempDir, MiB, randomSource, rng, writeRaw } from './test-support.js';
import type { Qcow2Output } from './output.js';
import { Qcow2Writer } from './writer.js';

const tmp = makeTempDir('parts');
afterAll(tmp.cleanup);

const HEAD = 5 * MiB;
const PART = 1 * MiB; // S3's minimum is 5 MiB; smaller here to get many parts from a small disk

/** An append-only output whose durable prefix grows by whole parts, over a local file standing in for the object. */
class PartUpload implements Qcow2Output {
  headerWritten = false;
  private end: number;
  constructor(
    private readonly fh: FileHandle,
    /** Where the uploaded parts end (the head counts as the first: it is made from nothing at finish). */
    readonly partEnds: number[] = [HEAD],
  ) {
    this.end = partEnds[partEnds.length - 1]!;
  }
  durableLength = () => this.partEnds[this.partEnds.length - 1]!;
  writev: Qcow2Output['writev'] = async (buffers, position) => {
    if (position !== this.end) throw new Error(`not an append: at ${position}, the upload ends at ${this.end}`);
    const r = await this.fh.writev(buffers, position);
    this.end += r.bytesWritten;
    // A part is cut where a writev ends, once enough is buffered.
    if (this.end - this.durableLength() >= PART) this.partEnds.push(this.end);
    return r;
  };
  write: Qcow2Output['write'] = async (buf, offset, length, position) => {
    if (position !== 0 || length !== 65536) throw new Error(`only the header may be written out of order, not ${length} bytes at ${position}`);
    this.headerWritten = true;
    return this.fh.write(buf, offset, length, position);
  };
  read: Qcow2Output['read'] = (buffer, offset, length, position) => this.fh.read(buffer, offset, length, position);
  stat = () => this.fh.stat();
  datasync = () => this.fh.datasync(); // an upload cannot make a partial part durable
  truncate = async (length: number) => {
    if (length === 0) {
      this.partEnds.splice(0, this.partEnds.length, HEAD);
      this.end = HEAD;
    } else {
      const keep = this.partEnds.indexOf(length);
      if (keep < 0) throw new Error(`an upload can only drop whole parts: ${length} is not a part end (${this.partEnds.join(', ')})`);
      this.partEnds.splice(keep + 1);
      this.end = length;
    }
    await this.fh.truncate(length);
  };
  /** kill -9: what was buffered for the next part is gone. */
  async kill(): Promise<void> {
    await this.fh.truncate(this.durableLength());
    await this.fh.close();
  }
}

describe('Qcow2Writer over a part-by-part upload', () => {
  it('checkpoints claim only whole uploaded parts; after a kill the upload resumes at a part end and the image is identical', async () => {
    const source = randomSource(48 * MiB, 81, 200, 256 * KiB);
    const raw = join(tmp.dir, 'source.raw');
    const path = join(tmp.dir, 'upload.qcow2');
    await writeRaw(source, raw);
    const next = rng(3);

    let upload = new PartUpload(await open(path, 'w+'));
    const writer = await Qcow2Writer.create(upload, { virtualSize: source.virtualSize, headBytes: HEAD });
    await feed(writer, source, 0, 20 * MiB + 123, next, 100 * KiB);
    const state = await writer.checkpoint();
    // The checkpoint is at a part end, and it does not claim the part still being filled.
    expect(upload.partEnds).toContain(state.fileLength);
    expect(state.fileLength).toBe(upload.durableLength());
    expect(state.resumeOffset).toBeLessThan(writer.receivedOffset);
    expect(JSON.stringify(state).length).toBeLessThan(2 * KiB);
    await feed(writer, source, 20 * MiB + 123, 35 * MiB, next, 100 * KiB);
    const partsAtKill = [...upload.partEnds];
    expect(partsAtKill.length).toBeGreaterThan(upload.partEnds.indexOf(state.fileLength) + 1); // parts uploaded after the checkpoint
    await upload.kill();

    upload = new PartUpload(await open(path, 'r+'), partsAtKill); // what listing the upload's parts would give
    const resumed = await Qcow2Writer.resume(upload, JSON.parse(JSON.stringify(state)));
    expect(upload.durableLength()).toBe(state.fileLength); // the parts after the checkpoint were dropped
    await feed(resumed, source, state.resumeOffset, source.virtualSize, next, 100 * KiB);
    await resumed.finish();
    expect(upload.headerWritten).toBe(true);
    await (await open(path, 'r')).close();
    await expectValidCopy(path, raw, source.virtualSize);
  });
});
