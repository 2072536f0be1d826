// Exact-length reads over a stream that arrives in chunks of any size (an HTTP
// body: 16 KiB chunks, or one byte at a time through a slow proxy), without
// seeking. Holds at most what the current read asked for plus the rest of the
// last chunk pulled, so memory stays bounded by the largest single read (one
// compressed grain) and pulling stops while the consumer is busy: backpressure
// reaches the socket.

export class StreamByteReader {
  private chunks: Buffer[] = [];
  /** Index of the first chunk still (partly) unread: an index, not shift(), so 1-byte chunks stay O(1) each. */
  private first = 0;
  /** Bytes of chunks[first] already consumed. */
  private head = 0;
  private buffered = 0;
  private consumed = 0;
  private received = 0;
  private ended = false;

  private source: AsyncIterator<Uint8Array> | undefined;

  /** The source is not touched (a Node stream not set reading) until the first fill. */
  constructor(private readonly input: AsyncIterable<Uint8Array>) {}

  /** Input bytes consumed by the decoder so far (the offset of the next byte it reads). */
  get position(): number {
    return this.consumed;
  }

  /** Input bytes pulled from the source so far (position plus what is buffered). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Pulls until `n` bytes are buffered or the input ends; returns how many are buffered. */
  async fill(n: number): Promise<number> {
    while (this.buffered < n && !this.ended) {
      this.source ??= this.input[Symbol.asyncIterator]();
      const next = await this.source.next();
      if (next.done === true) {
        this.ended = true;
        break;
      }
      const value = next.value;
      if (value.byteLength === 0) continue;
      const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.received += chunk.length;
    }
    return this.buffered;
  }

  /** Whether the input has ended with nothing left buffered. */
  async atEnd(): Promise<boolean> {
    return (await this.fill(1)) === 0;
  }

  /**
   * Takes exactly `n` buffered bytes (call fill first). Zero-copy when they lie in
   * one chunk; the result may share memory with the input chunk, so it is only
   * read, never kept past the next call by the decoder.
   */
  take(n: number): Buffer {
    if (n > this.buffered) throw new RangeError(`take(${n}) with only ${this.buffered} bytes buffered`);
    const first = this.chunks[this.first];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    let out: Buffer;
    if (first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.advance(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let copied = 0;
      while (copied < n) {
        const chunk = this.chunks[this.first];
        if (chunk === undefined) throw new Error('byte reader lost track of its buffered bytes');
        const part = Math.min(chunk.length - this.head, n - copied);
        chunk.copy(out, copied, this.head, this.head + part);
        copied += part;
        this.advance(part);
      }
    }
    return out;
  }

  /** Drops `n` bytes without keeping them; returns how many were dropped (fewer only if the input ended). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && (await this.fill(1)) === 0) break;
      const chunk = this.chunks[this.first];
      if (chunk === undefined) break;
      const part = Math.min(chunk.length - this.head, left);
      this.advance(part);
      left -= part;
    }
    return n - left;
  }

  /**
   * Reads to the end of the input, at most `limit` bytes, without keeping them.
   * Returns the input offset of the first non-zero byte, or of the byte past the
   * limit, or undefined when everything up to the end was zero.
   */
  async drainZeros(limit: number): Promise<number | undefined> {
    for (;;) {
      if ((await this.fill(1)) === 0) return undefined;
      const chunk = this.chunks[this.first];
      if (chunk === undefined) return undefined;
      const view = chunk.subarray(this.head);
      const nonZero = view.findIndex((byte) => byte !== 0);
      if (nonZero >= 0) return this.consumed + nonZero;
      this.advance(view.length);
      if (this.consumed > limit) return this.consumed;
    }
  }

  /** Lets the source release its resources (closes the HTTP body) when decoding stops early. */
  async close(): Promise<void> {
    this.chunks = [];
    this.first = 0;
    this.buffered = 0;
    if (!this.ended) {
      this.ended = true;
      await this.source?.return?.();
    }
  }

  private advance(n: number): void {
    this.head += n;
    this.buffered -= n;
    this.consumed += n;
    const first = this.chunks[this.first];
    if (first !== undefined && this.head === first.length) {
      this.first += 1;
      this.head = 0;
      // Drop consumed chunks once they are half the list: amortised O(1), and
      // never more consumed chunks kept alive than unread ones.
      if (this.first * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.first);
        this.first = 0;
      }
    }
  }
}
