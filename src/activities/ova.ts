// OVA = a tar of the package with the descriptor first (OVF spec §5.3), then the
// manifest, then the disks. node-tar writes pax headers for files over 8 GiB.
import { createWriteStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { create as createTar } from 'tar';
import type { OutputSink } from '../storage/sink.js';

export interface PackedOva {
  name: string;
  uri: string;
  sizeBytes: number;
  sha256: string;
}

/** Packs `files` (names inside a local sink) into `ovaName`, atomically. */
export async function packOva(sink: OutputSink, ovaName: string, files: string[]): Promise<PackedOva> {
  const finalPath = sink.describe(ovaName);
  const dir = dirname(finalPath);
  const partial = join(dir, `.${basename(finalPath)}.partial`);
  const hash = createHash('sha256');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      createTar({ cwd: dir, portable: true, noDirRecurse: true }, files),
      hashing,
      createWriteStream(partial),
    );
    const handle = await open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, finalPath);
  } catch (err) {
    await unlink(partial).catch(() => undefined);
    throw err;
  }
  const { size: onDisk } = await stat(finalPath);
  if (onDisk !== size) throw new Error(`OVA ${ovaName}: wrote ${size} bytes but the file has ${onDisk}`);
  return { name: ovaName, uri: finalPath, sizeBytes: size, sha256: hash.digest('hex') };
}

