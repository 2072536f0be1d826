// SHA-256 on a worker thread, so hashing (≈1 s of CPU per 2 GiB here, the largest
// single cost of a transfer) overlaps the network read and the file write instead
// of running on the event loop between them.
//
// Batches go to the worker by *transfer* (the ArrayBuffer moves, no copy) and come
// back the same way, to be refilled. SharedArrayBuffer was measured and rejected:
// V8 copies into shared memory element-wise (relaxed atomics), which made filling
// the batches ~5× more expensive than the hashing it saved.
//
// One worker serves every transfer of the process (streams keyed by id). It is
// started on first use and stopped when no stream has used it for a few seconds.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const streams = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = streams.get(m.id);
    if (!h) { h = createHash('sha256'); streams.set(m.id, h); }
    h.update(new Uint8Array(m.ab, m.offset, m.len));
    parentPort.postMessage({ id: m.id, seq: m.seq, ab: m.ab }, [m.ab]);
  } else if (m.op === 'digest') {
    const h = streams.get(m.id) ?? createHash('sha256');
    streams.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: h.digest('hex') });
  } else if (m.op === 'drop') {
    streams.delete(m.id);
  }
});
`;

const IDLE_STOP_MS = 5000;

interface Reply {
  id: number;
  seq?: number;
  ab?: ArrayBuffer;
  digest?: string;
}

interface Pending {
  resolve(value: Reply): void;
  reject(err: Error): void;
}

class SharedHashWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<string, Pending>();
  private streamsOpen = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 1;

  open(): number {
    this.streamsOpen++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return this.nextId++;
  }

  close(id: number): void {
    this.worker?.postMessage({ op: 'drop', id });
    this.streamsOpen--;
    if (this.streamsOpen === 0 && this.worker) {
      this.idleTimer = setTimeout(() => this.stop(), IDLE_STOP_MS);
      this.idleTimer.unref();
    }
  }

  request(key: string, message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<Reply> {
    const w = this.start();
    // Referenced only while a reply is awaited: an idle worker must not keep the process alive.
    if (this.pending.size === 0) w.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(key, { resolve, reject });
      w.postMessage(message, transfer);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (m: Reply) => {
      const key = m.digest !== undefined ? `${m.id}:digest` : `${m.id}:${m.seq}`;
      const p = this.pending.get(key);
      this.pending.delete(key);
      if (this.pending.size === 0) w.unref();
      p?.resolve(m);
    });
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
    w.unref(); // after the listeners: adding a 'message' listener refs it again
    this.worker = w;
    return w;
  }

  private stop(): void {
    this.idleTimer = undefined;
    const w = this.worker;
    if (!w || this.streamsOpen > 0) return;
    this.worker = undefined;
    void w.terminate();
  }
}

const shared = new SharedHashWorker();

/**
 * One SHA-256 stream hashed on the shared worker. `update` takes ownership of the
 * buffer's whole ArrayBuffer (so the caller must own all of it: allocUnsafeSlow,
 * or a window of memory of its own such as an aligned batch) and resolves with a
 * Buffer over the same window once hashed; calls must come in stream order (the
 * worker hashes in message order).
 */
export class WorkerSha256 {
  private readonly id = shared.open();
  private seq = 0;
  private closed = false;

  async update(buf: Buffer, len: number): Promise<Buffer> {
    if (this.closed) return buf; // a failed transfer's late batches: nothing to hash any more
    // The whole ArrayBuffer moves: a small slice of a larger one (Buffer's shared
    // pool, say) would take its neighbours away with it.
    if (buf.length * 2 < buf.buffer.byteLength || len > buf.length) throw new Error('WorkerSha256 needs a buffer that owns its memory');
    const seq = this.seq++;
    const ab = buf.buffer as ArrayBuffer;
    const { byteOffset, length } = buf;
    const reply = await shared.request(`${this.id}:${seq}`, { op: 'update', id: this.id, seq, ab, offset: byteOffset, len }, [ab]);
    return Buffer.from(reply.ab!, byteOffset, length);
  }

  async digestHex(): Promise<string> {
    const reply = await shared.request(`${this.id}:digest`, { op: 'digest', id: this.id }, []);
    this.close();
    return reply.digest!;
  }

  /** Releases the stream (idempotent); the worker forgets its state. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    shared.close(this.id);
  }
}
