// A real kill -9: a child process writes an image and heartbeats checkpoints on
// stdout; it is killed with SIGKILL while writing; the parent resumes from the
// last checkpoint it saw and finishes; qemu-img finds the image identical to the
// source.
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { expectValidCopy } from './test-judge.js';
import { feed, makeTempDir, MiB, qemuImg, randomSource, rng, writeRaw } from './test-support.js';
import { Qcow2Writer } from './writer.js';

const SELF_DIR = dirname(fileURLToPath(import.meta.url));
const tmp = makeTempDir('kill');
let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  tmp.cleanup();
});

describe('Qcow2Writer after kill -9', () => {
  it('resumes from the last checkpoint heartbeated before SIGKILL and ends identical to the source', { timeout: 60_000 }, async () => {
    const virtualSize = 96 * MiB + 512;
    const seed = 71;
    const qcow2 = join(tmp.dir, 'killed.qcow2');
    const lines: string[] = [];
    const proc = spawn(process.execPath, ['--import', 'tsx', join(SELF_DIR, 'test-kill-child.ts'), qcow2, String(virtualSize), String(seed), String(8 * MiB)], {
      cwd: join(SELF_DIR, '../../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = proc;
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
    let buffered = '';
    proc.stdout.on('data', (data: Buffer) => {
      buffered += data.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (lines.length === 4) proc.kill('SIGKILL'); // while it writes on towards the fifth
      }
    });
    expect(await exited).toBe('SIGKILL');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const state = JSON.parse(lines[lines.length - 1]!) as unknown;

    // What the kill left is not an image: the header, written last, is not there.
    expect((await readFile(qcow2)).subarray(0, 4).equals(Buffer.alloc(4))).toBe(true);
    expect(JSON.parse((await qemuImg('info', '--output=json', qcow2)).stdout)).toMatchObject({ format: 'raw' });

    const source = randomSource(virtualSize, seed, 400, 256 * 1024);
    const raw = join(tmp.dir, 'source.raw');
    await writeRaw(source, raw);
    const fh = await open(qcow2, 'r+');
    const writer = await Qcow2Writer.resume(fh, state);
    const { resumeOffset } = state as { resumeOffset: number };
    expect(resumeOffset).toBeGreaterThan(0);
    expect(resumeOffset).toBeLessThan(virtualSize);
    await feed(writer, source, resumeOffset, virtualSize, rng(2));
    await writer.finish();
    await fh.close();
    await expectValidCopy(qcow2, raw, virtualSize);
  });
});
