// What hyperexport does with an export's files after the job completed, as the
// original did on its own machine: -verify re-reads every file and checks it
// against the export's manifest (.mf), then writes checksums.txt (sha256sum
// format); -compress turns the OVA into a gzip-compressed <name>.ova.gz. Both
// read the files where this process runs, so they need the output directory to
// be local (standalone, or a daemon on this machine).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, link, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import type { JobResult } from '../../jobs/job-schemas.js';
import { parseManifest } from '../../export/ovf.js';

export interface PostExportOptions {
  verify: boolean;
  compress: boolean;
}

export interface PostExportOutcome {
  /** Files checked against the manifest (-verify). */
  verified: number;
  /** The .ova.gz written (-compress). */
  compressedPath?: string;
  /** checksums.txt written (-verify). */
  checksumsPath?: string;
}

/** A failed step, its message ready for the user (names the flag and the file). */
export class PostExportError extends Error {}

const CHUNK = 4 * 1024 * 1024;

/** Passes bytes through unchanged, hashing them on the way. */
class HashTap extends Transform {
  constructor(private readonly hash: Hash) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function mismatch(flag: string, name: string, actual: string, expected: string): PostExportError {
  return new PostExportError(`${flag}: ${name} has SHA-256 ${actual}, the manifest says ${expected}: the file changed or is damaged; export it again`);
}

async function ensureLocal(flag: string, path: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new PostExportError(`${flag}: ${path} is not readable from this machine (a daemon on another host wrote it); run the check where the files are, or leave out ${flag}`);
  }
}

/** OVF directory: every file the .mf lists, re-hashed. Returns name -> sha256 of the files checked, the .mf included. */
async function verifyDirectory(result: JobResult): Promise<Map<string, string>> {
  await ensureLocal('-verify', result.manifest_path);
  const expected = parseManifest(await readFile(result.manifest_path, 'utf8'));
  if (expected.size === 0) throw new PostExportError(`-verify: ${result.manifest_path} lists no files`);
  const checked = new Map<string, string>();
  for (const [name, sha] of expected) {
    const actual = await sha256OfFile(join(result.output_dir, name)).catch((err: NodeJS.ErrnoException) => {
      throw new PostExportError(`-verify: ${name} listed in ${basename(result.manifest_path)} cannot be read (${err.code ?? err.message})`);
    });
    if (actual !== sha) throw mismatch('-verify', name, actual, sha);
    checked.set(name, actual);
  }
  checked.set(basename(result.manifest_path), await sha256OfFile(result.manifest_path));
  return checked;
}

/** OVA: every member the archive's .mf lists, re-hashed while reading the archive once; also the archive's own hash. */
async function verifyArchive(ovaPath: string): Promise<{ members: number; sha256: string }> {
  await ensureLocal('-verify', ovaPath);
  const memberHashes = new Map<string, string>();
  let manifest = '';
  const whole = createHash('sha256');
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const hash = createHash('sha256');
      const isManifest = entry.path.endsWith('.mf');
      entry.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        if (isManifest) manifest += chunk.toString('utf8');
      });
      entry.on('end', () => memberHashes.set(entry.path, hash.digest('hex')));
    },
  });
  await pipeline(createReadStream(ovaPath, { highWaterMark: CHUNK }), new HashTap(whole), parser);
  const expected = parseManifest(manifest);
  if (expected.size === 0) throw new PostExportError(`-verify: ${basename(ovaPath)} holds no manifest (.mf) to check against`);
  for (const [name, sha] of expected) {
    const actual = memberHashes.get(name);
    if (actual === undefined) throw new PostExportError(`-verify: ${basename(ovaPath)} lacks ${name}, which its manifest lists`);
    if (actual !== sha) throw mismatch('-verify', `${basename(ovaPath)}:${name}`, actual, sha);
  }
  return { members: expected.size, sha256: whole.digest('hex') };
}

/** gzip (level 6, as the original) the OVA into <name>.ova.gz next to it, then remove the .ova. Resolves to the SHA-256 of the .ova.gz. */
async function compressArchive(ovaPath: string): Promise<{ path: string; sha256: string }> {
  await ensureLocal('-compress', ovaPath);
  const target = `${ovaPath}.gz`;
  const partial = join(dirname(target), `.${basename(target)}.partial`);
  const hash = createHash('sha256');
  // Created exclusively and published with link(): a .ova.gz (or its partial) that
  // this export did not write is never replaced or removed.
  let created = false;
  try {
    const fh = await open(partial, 'wx', 0o640);
    created = true;
    await pipeline(createReadStream(ovaPath, { highWaterMark: CHUNK }), createGzip({ level: 6 }), new HashTap(hash), fh.createWriteStream());
    await link(partial, target);
  } catch (err) {
    if (created) await rm(partial, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new PostExportError(`-compress: ${created ? target : partial} already exists and this export did not write it; move it away and compress ${ovaPath} again, or leave out -compress (the .ova is kept)`);
    }
    throw new PostExportError(`-compress: writing ${target} failed (${code ?? (err as Error).message})`);
  }
  await unlink(partial);
  await rm(ovaPath);
  return { path: target, sha256: hash.digest('hex') };
}

export async function afterExport(result: JobResult, options: PostExportOptions): Promise<PostExportOutcome> {
  const outcome: PostExportOutcome = { verified: 0 };
  const checksums = new Map<string, string>();
  if (options.verify) {
    if (result.ova_path) {
      const archive = await verifyArchive(result.ova_path);
      outcome.verified = archive.members;
      checksums.set(basename(result.ova_path), archive.sha256);
    } else {
      const files = await verifyDirectory(result);
      outcome.verified = files.size - 1;
      for (const [name, sha] of files) checksums.set(name, sha);
    }
  }
  if (options.compress) {
    if (!result.ova_path) throw new PostExportError('-compress: the export is not an OVA (add -format ova)');
    const compressed = await compressArchive(result.ova_path);
    outcome.compressedPath = compressed.path;
    // checksums.txt describes the files left on disk: the .ova.gz replaces the .ova.
    if (checksums.delete(basename(result.ova_path))) checksums.set(basename(compressed.path), compressed.sha256);
  }
  if (options.verify) {
    const path = join(result.output_dir, 'checksums.txt');
    const lines = [...checksums].map(([name, sha]) => `${sha}  ${name}\n`).join('');
    try {
      // Exclusive: a checksums.txt this export did not write (another VM's, the user's) is never replaced.
      await writeFile(path, lines, { flag: 'wx', mode: 0o640 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new PostExportError(`-verify: the files match the manifest, but ${path} already exists and this export did not write it; move it away to get a new one`);
      throw new PostExportError(`-verify: the files match the manifest, but ${path} could not be written (${code ?? (err as Error).message})`);
    }
    outcome.checksumsPath = path;
  }
  return outcome;
}
