// The one-pass hash of a fully allocated qcow2: right when every cluster holds
// data (the predicted header is the one written), and a read back otherwise.
// The truth is the file's own SHA-256, computed here from its bytes.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLUSTER_BITS, fullImageHeader, qcow2Geometry, Qcow2Writer } from '../../formats/qcow2/index.js';
import { qemuImg } from '../../formats/qcow2/test-support.js';
import { makeTempDir } from '../../formats/test-support.js';
import { LocalSink } from '../local-sink.js';
import { PredictedHashImageFile } from './predicted-hash.js';

const tmp = makeTempDir('predicted-hash');
afterAll(tmp.cleanup);

const MiB = 1024 * 1024;
const SIZE = 9 * MiB + 4096; // the last cluster is partial

async function writeImage(name: string, disk: Buffer): Promise<{ file: PredictedHashImageFile; sha: string; path: string }> {
  const sink = new LocalSink(tmp.dir);
  const g = qcow2Geometry(SIZE, DEFAULT_CLUSTER_BITS);
  const head = Buffer.alloc(g.clusterSize);
  fullImageHeader(g, 1).copy(head);
  const file = new PredictedHashImageFile(await sink.openImageFile(name, { headBytes: g.clusterSize }), head);
  const writer = await Qcow2Writer.create(file, { virtualSize: SIZE, headBytes: g.clusterSize });
  for (let at = 0; at < SIZE; at += MiB) await writer.write(at, disk.subarray(at, Math.min(SIZE, at + MiB)));
  await writer.checkpoint();
  await writer.finish();
  await file.finish();
  const sha = await file.sha256();
  await file.close();
  await sink.close();
  return { file, sha, path: join(tmp.dir, name) };
}

const fileSha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('one-pass SHA-256 of a qcow2 image', () => {
  it('a fully allocated disk is hashed as written, and the digest is the file\'s', async () => {
    const { file, sha, path } = await writeImage('full.qcow2', randomBytes(SIZE));
    expect(file.hashedInOnePass).toBe(true);
    expect(sha).toBe(fileSha(path));
    expect((await qemuImg('check', path)).code).toBe(0);
  });

  it('a disk with one all-zero cluster is read back instead, and the digest is still the file\'s', async () => {
    const disk = randomBytes(SIZE);
    disk.fill(0, 3 * 65536, 4 * 65536);
    const { file, sha, path } = await writeImage('thin.qcow2', disk);
    expect(file.hashedInOnePass).toBe(false);
    expect(sha).toBe(fileSha(path));
  });
});
