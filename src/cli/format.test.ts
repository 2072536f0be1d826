import { describe, expect, it } from 'vitest';
import type { Job } from '../api/schemas.js';
import { renderJob } from './format.js';

const io = { out: () => undefined, err: () => undefined, isTty: false, env: {} };
const job = (over: Partial<Job>): Job =>
  ({
    definition: { id: 'j1', name: 'j1', vm_path: '/DC0/vm/x', output_path: '/out/x' },
    status: 'running',
    started_at: '2026-12-01T00:00:00.000Z',
    updated_at: '2026-12-01T00:00:00.000Z',
    ...over,
  }) as Job;
const progress = (disks: Job['progress'] extends infer P ? (P extends { disks: infer D } ? D : never) : never) =>
  ({
    phase: 'transferring',
    current_file: '',
    files_downloaded: 0,
    total_files: disks.length,
    bytes_downloaded: 0,
    total_bytes: 0,
    percent_complete: 0,
    speed_mbps: 0,
    estimated_remaining: '',
    disks,
  }) as NonNullable<Job['progress']>;

describe('hyperctl query output', () => {
  it('says how each disk is read and why', () => {
    const text = renderJob(
      job({
        progress: progress([
          { key: 1, file: 'x-disk1.vmdk', state: 'transferring', bytes_done: 0, size_bytes: 1, attempts: 1, method: 'datastore', reason: 'resumable' },
          { key: 2, file: 'x-disk2.vmdk', state: 'pending', bytes_done: 0, size_bytes: 1, attempts: 0, method: 'ovf', reason: 'stream: restarts from zero if interrupted, because the VM already had snapshots' },
        ]),
      }),
      io,
    );
    expect(text).toContain('Disk:     x-disk1.vmdk: datastore (resumable)');
    expect(text).toContain('Disk:     x-disk2.vmdk: ovf (stream: restarts from zero if interrupted, because the VM already had snapshots)');
  });

  it('shows a job from before the method was recorded as before', () => {
    const text = renderJob(job({ progress: progress([{ key: 1, file: 'x-disk1.vmdk', state: 'transferring', bytes_done: 0, size_bytes: 1, attempts: 1 }]) }), io);
    expect(text).not.toContain('Disk:');
  });
});
