// SHA-256 on the worker thread (hash-worker.ts) of bytes the caller keeps: each
// update copies them into a few buffers of this hasher's own, which move to the
// worker and come back. For writers that hand their output to a file and then
// reuse (or give back) the memory, so it cannot be transferred away: a copy costs
// the event loop ~1 ms per 8 MiB, the hash it moves off the loop ~5.5 ms here.
//
// Memory: at most BUFFERS × BUFFER_BYTES (24 MiB); an update waits for a buffer
// when the worker is behind, so a writer faster than SHA-256 is slowed to it
// instead of queueing copies.
import { WorkerSha256 } from './hash-worker.js';

const BUFFER_BYTES = 8 << 20;
const BUFFERS = 3;

export class CopiedSha256 {
  private readonly sha = new WorkerSha256();
  private readonly free: Buffer[] = [];
  private made = 0;
  private readonly waiting: { resolve(b: Buffer): void; reject(err: Error): void }[] = [];
  private filling: Buffer | undefined;
  private filled = 0;
  private failure: Error | undefined;
  /** Every posted buffer's hashing, so digest() waits for the last and sees any failure. */
  private posted: Promise<void>[] = [];

  /** Hashes `bytes` after everything given before. Rejects once the worker failed. */
  async update(bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      this.throwIfFailed();
      this.filling ??= await this.takeBuffer();
      const n = bytes.copy(this.filling, this.filled, at);
      this.filled += n;
      at += n;
      if (this.filled === this.filling.length) this.post();
    }
  }

  async digestHex(): Promise<string> {
    if (this.filled > 0) this.post();
    await Promise.all(this.posted);
    this.throwIfFailed();
    return this.sha.digestHex();
  }

  /** Forgets the stream (idempotent); buffers still with the worker are dropped when they return. */
  close(): void {
    this.sha.close();
    this.fail(new Error('CopiedSha256: closed'));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  private post(): void {
    const buffer = this.filling!;
    const len = this.filled;
    this.filling = undefined;
    this.filled = 0;
    const done = this.sha.update(buffer, len).then(
      (back) => this.giveBack(back),
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
    // Buffer k is posted only after buffer k - BUFFERS came back: older ones are settled.
    this.posted.push(done);
    if (this.posted.length > BUFFERS * 4) this.posted = this.posted.slice(-BUFFERS);
  }

  private takeBuffer(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.made < BUFFERS) {
      this.made++;
      return Promise.resolve(Buffer.allocUnsafeSlow(BUFFER_BYTES));
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private giveBack(b: Buffer): void {
    const next = this.waiting.shift();
    if (next) next.resolve(b);
    else this.free.push(b);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
