// A small, really full file system for the "sink full" fault: a tmpfs of a given
// size mounted on the export's output directory (we run as root in CI and here).
// When mounting is refused (no privilege), mountTmpfs says why and the suite
// reports the sink-full fault as not injected (the closest real alternative,
// /dev/full behind the local writer, is covered by test/transfer's ENOSPC test).
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  dir: string;
  unmount(): Promise<void>;
}

export async function mountTmpfs(dir: string, sizeBytes: number): Promise<Tmpfs | { refused: string }> {
  mkdirSync(dir, { recursive: true });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { timeout: 10_000 });
  } catch (err) {
    return { refused: (err as Error).message.trim() };
  }
  let mounted = true;
  return {
    dir,
    async unmount() {
      if (!mounted) return;
      for (let i = 0; i < 20; i++) {
        try {
          await run('umount', [dir], { timeout: 10_000 });
          mounted = false;
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 250)); // busy: a worker still closing its file
        }
      }
      await run('umount', ['-l', dir], { timeout: 10_000 }).catch(() => undefined);
      mounted = false;
    },
  };
}
