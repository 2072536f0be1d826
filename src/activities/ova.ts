// OVA = a tar of the package with the descriptor first (OVF spec §5.3), then the
// manifest, then the disks. node-tar writes pax headers for files over 8 GiB.
import { constants } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ApplicationFailure } from '@temporalio/activity';
import { create as createTar } from 'tar';
import { ErrorType } from '../core/errors.js';
import { LocalSink } from '../storage/local-sink.js';
import { validateRelativeName } from '../storage/local-paths.js';
import { createExclusive, openOwned } from '../storage/output-directory.js';
import type { OutputSink } from '../storage/sink.js';

/** An OVA is packed in a local directory (the gateway refuses format ova into S3 at submit; the worker again). */
export function ovaNeedsLocalOutput(archive: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.NotSupported,
    message: `format ova: ${archive} is packed in a local output directory; use format ovf for S3`,
    nonRetryable: true,
  });
}

export interface PackedOva {
  name: string;
  uri: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * Packs `files` (names inside a local sink) into `ovaName`, atomically. Everything
 * goes through the sink's opened directory: the partial is created exclusively
 * (0640, never through a symlink), the members are read from that directory.
 */
export async function packOva(sink: OutputSink, ovaName: string, files: string[]): Promise<PackedOva> {
  if (!(sink instanceof LocalSink))
    throw new Error(`OVA packing needs a local output directory, not ${sink.location}`);
  const [base] = validateRelativeName(ovaName);
  if (base !== ovaName) throw new Error(`OVA name ${ovaName} must be a plain file name`);
  const uri = sink.describe(ovaName);
  return sink.withDirectory(async (dir) => {
    const finalPath = join(dir, ovaName);
    const partial = join(dir, `.${ovaName}.partial`);
    const hash = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    // A partial of ours left by a killed attempt is started over; anything else there is refused.
    await openOwned(partial, constants.O_RDONLY, `the partial of ${uri}`).then(
      async (fh) => {
        await fh.close();
        await unlink(partial);
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      },
    );
    const handle = await createExclusive(partial, constants.O_WRONLY);
    try {
      // The stream closes the handle when it ends; the file is reopened (never by a link) to fsync it.
      await pipeline(
        createTar({ cwd: dir, portable: true, noDirRecurse: true }, files),
        hashing,
        handle.createWriteStream(),
      );
      const written = await openOwned(partial, constants.O_RDONLY, `the partial of ${uri}`);
      try {
        await written.sync();
      } finally {
        await written.close();
      }
      await rename(partial, finalPath);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await unlink(partial).catch(() => undefined);
      throw err;
    }
    const { size: onDisk } = await stat(finalPath);
    if (onDisk !== size) throw new Error(`OVA ${ovaName}: wrote ${size} bytes but the file has ${onDisk}`);
    return { name: ovaName, uri, sizeBytes: size, sha256: hash.digest('hex') };
  });
}
