import { closeSync, mkdtempSync, openSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sinkFailure } from './sink-errors.js';

describe('sinkFailure', () => {
  it('names the directory a /proc/self/fd path stands for, not the descriptor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sink-errors-'));
    const fd = openSync(dir, 'r');
    try {
      const full = sinkFailure(
        Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }),
        `writing /proc/self/fd/${fd}/.vm-disk1.vmdk.partial`,
      );
      expect(full.type).toBe('SinkFull');
      expect(full.message).toBe(
        `writing ${realpathSync(dir)}/.vm-disk1.vmdk.partial: output storage is full (ENOSPC); free space and the transfer resumes`,
      );
      const denied = sinkFailure(
        Object.assign(new Error(`EACCES: permission denied, open '/proc/self/fd/${fd}/x'`), {
          code: 'EACCES',
        }),
        'opening x',
      );
      expect(denied.message).toBe(`opening x: EACCES: permission denied, open '${realpathSync(dir)}/x'`);
      expect(denied.nonRetryable).toBe(true);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
