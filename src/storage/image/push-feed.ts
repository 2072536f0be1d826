// Turns the transfer's pushes (DiskWriter.write) into the pull the streamOptimized
// decoder reads from (an async iterable), holding at most `depth` chunks: a
// push waits while the decoder is behind, which pauses the download
// (backpressure), so memory stays bounded whatever the disk size.
export class PushFeed implements AsyncIterable<Uint8Array> {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private stopped: Error | undefined;
  private wakeReader: (() => void) | undefined;
  private wakeWriters: (() => void)[] = [];

  constructor(private readonly depth = 2) {}

  /** Queues a chunk; resolves once there is room for the next one (or the reader stopped). */
  async push(chunk: Buffer): Promise<void> {
    this.throwIfStopped();
    if (this.ended) throw new Error('push after end');
    this.queue.push(chunk);
    this.notifyReader();
    while (this.queue.length >= this.depth && this.stopped === undefined) {
      await new Promise<void>((resolve) => this.wakeWriters.push(resolve));
    }
    this.throwIfStopped();
  }

  private throwIfStopped(): void {
    if (this.stopped !== undefined) throw this.stopped;
  }

  /** No more chunks: the reader sees the end once it has taken the queued ones. */
  end(): void {
    this.ended = true;
    this.notifyReader();
  }

  /** The reader is gone (failed or finished early): pending and later pushes reject with `reason`. */
  stop(reason: Error): void {
    this.stopped ??= reason;
    this.queue.length = 0;
    this.notifyWriters();
    this.notifyReader();
  }

  private notifyReader(): void {
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
  }

  private notifyWriters(): void {
    const waiting = this.wakeWriters;
    this.wakeWriters = [];
    for (const wake of waiting) wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.stopped) return;
      const next = this.queue.shift();
      if (next) {
        this.notifyWriters();
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }
}
