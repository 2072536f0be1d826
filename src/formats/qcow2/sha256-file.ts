// SHA-256 of a finished image, for the manifest. It cannot be computed while
// writing: the header (cluster 0) is the last thing written and a hash runs in
// file order. No append-only layout avoids that for an unknown allocation map:
// every table must follow the data it describes (its content depends on it), so
// its position depends on how much data came first, and whatever points to it
// must be written after it, back to the header at offset 0 that points to the
// L1 and refcount tables. (With the map known up front — EBS block lists, a
// vSphere changed-areas query — all metadata could go first and the file be
// hashed as it is written; but then zero clusters inside "allocated" extents
// would have to be stored.) So this reads the file once, sequentially: one
// extra read of the image's size (not the virtual size), mostly from the page
// cache right after writing; see the throughput test for the figure. The hash
// runs on the worker thread while the next chunk is read (BUFFERS chunks in
// turn), so the read costs no time beside the hash.

import { WorkerSha256 } from '../../core/hash-worker.js';
import type { Qcow2Output } from './output.js';

const CHUNK = 4 << 20;
const BUFFERS = 3;

export async function sha256OfFile(file: Pick<Qcow2Output, 'read' | 'stat'>): Promise<string> {
  const { size } = await file.stat();
  const hash = new WorkerSha256();
  const chunk = Math.min(CHUNK, Math.max(size, 1));
  // Each slot: a buffer of its own, or the promise of its return from the worker.
  const slots: Promise<Buffer>[] = Array.from({ length: BUFFERS }, () => Promise.resolve(Buffer.allocUnsafeSlow(chunk)));
  try {
    let turn = 0;
    for (let at = 0; at < size; turn = (turn + 1) % BUFFERS) {
      const buf = await slots[turn]!;
      const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) throw new Error(`sha256OfFile: file ended at ${at} of ${size} bytes`);
      slots[turn] = hash.update(buf, bytesRead);
      at += bytesRead;
    }
    await Promise.all(slots);
    return await hash.digestHex();
  } finally {
    for (const slot of slots) slot.catch(() => undefined); // a failed read leaves hashes nobody awaits
    hash.close();
  }
}
