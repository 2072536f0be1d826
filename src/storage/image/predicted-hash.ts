// One-pass SHA-256 of a qcow2 image whose every cluster holds data. The writer
// appends data and tables in file order and writes the header last, at offset
// 0, so in general the file can only be hashed once finished (a read of every
// byte again: ~2.3 s per 4 GiB here). But when every guest cluster is stored,
// the layout, and so the header, follow from the disk's size alone: the hash
// starts with that predicted head and takes every append as it is written. At
// finish the header actually written is compared with the prediction; any
// difference (a thin disk: some cluster was all zeros), an append out of order,
// or a truncation, and the image is read back instead. A fully allocated disk,
// whose read-back would cost the most, is the one that needs none. The hash runs
// on the event loop: copied to the worker thread (tried: a copy per write) it cost
// more CPU than it saved (bench/formats section 2: 20 CPU-s against 11 per 2 GiB).
import { createHash, type Hash } from 'node:crypto';
import type { FinishedFile, ImageFile, WriterState } from '../sink.js';

export class PredictedHashImageFile implements ImageFile {
  private hash: Hash | undefined = createHash('sha256');
  private end: number;
  private headerMatched = false;
  private digest: string | undefined;
  /** Only where the file has one: without it, everything synced counts as durable. */
  readonly durableLength?: () => number;

  /** `head`: the predicted bytes of [0, head.length): the header the full image ends with, zeros after it. */
  constructor(
    private readonly file: ImageFile,
    private readonly head: Buffer,
  ) {
    this.hash!.update(head);
    this.end = head.length;
    const durable = file.durableLength?.bind(file);
    if (durable) this.durableLength = durable;
  }

  get name(): string {
    return this.file.name;
  }
  get randomAccess(): boolean {
    return this.file.randomAccess;
  }
  get durableGranularity(): number | undefined {
    return this.file.durableGranularity;
  }

  /** The layout is not the predicted one after all (a cluster was skipped): hashing on would be wasted work. */
  giveUp(): void {
    if (!this.hash) return;
    this.hash = undefined;
    if (this.digest === undefined) this.file.willBeReadBack?.();
  }

  async writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    if (position !== this.end) this.giveUp();
    const result = await this.file.writev(buffers, position);
    if (this.hash) {
      let left = result.bytesWritten;
      for (const b of buffers) {
        if (left <= 0) break;
        const n = Math.min(left, b.length);
        this.hash.update(n === b.length ? b : b.subarray(0, n));
        left -= n;
      }
      this.end += result.bytesWritten;
    }
    return result;
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    const result = await this.file.write(buffer, offset, length, position);
    const written = buffer.subarray(offset, offset + result.bytesWritten);
    if (position === 0 && written.equals(this.head.subarray(0, written.length))) this.headerMatched = true;
    else this.giveUp();
    return result;
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.file.read(buffer, offset, length, position);
  }
  datasync(): Promise<void> {
    return this.file.datasync();
  }
  async truncate(length: number): Promise<void> {
    // The writer empties the file before it starts; anything else undoes appends.
    if (!(length === 0 && this.end === this.head.length)) this.giveUp();
    await this.file.truncate(length);
  }
  stat(): Promise<{ size: number }> {
    return this.file.stat();
  }
  state(): WriterState {
    return this.file.state();
  }

  async finish(): Promise<FinishedFile> {
    const done = await this.file.finish();
    if (this.hash && this.headerMatched && done.sizeBytes === this.end) this.digest = this.hash.digest('hex');
    this.giveUp();
    return done;
  }

  /** The one-pass digest when the prediction held, else the file read back. */
  sha256(): Promise<string> {
    return this.digest !== undefined ? Promise.resolve(this.digest) : this.file.sha256();
  }

  /** Whether finish() could use the one-pass digest (for tests and figures). */
  get hashedInOnePass(): boolean {
    return this.digest !== undefined;
  }

  close(): Promise<void> {
    this.giveUp();
    return this.file.close();
  }
  abort(): Promise<void> {
    this.giveUp();
    return this.file.abort();
  }
}
