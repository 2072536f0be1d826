import { describe, expect, it } from 'vitest';
import type { Job } from '../jobs/job-schemas.js';
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
  it('names the region of an AWS job beside its instance, and nothing more for vSphere', () => {
    const aws = renderJob(job({ definition: { id: 'j2', name: 'web', vm_path: 'i-0abc1234', output_path: '/out/web', provider: 'aws', source: { region: 'eu-west-1' } } as Job['definition'] }), io);
    expect(aws).toContain('  VM:       i-0abc1234 (AWS eu-west-1)\n');
    const vsphere = renderJob(job({ definition: { id: 'j1', name: 'j1', vm_path: '/DC0/vm/x', output_path: '/out/x', provider: 'vsphere', profile: 'default' } as Job['definition'] }), io);
    expect(vsphere).toContain('  VM:       /DC0/vm/x\n');
  });

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

describe('hyperctl query output read by hyper2kvm', () => {
  // hyper2kvm lower-cases `hyperctl query -id` stdout and looks for these, in this order.
  const finalWords = /completed|failed|cancelled/i;

  for (const status of ['running', 'pending'] as const) {
    it(`a ${status} job mentions none of completed, failed, cancelled`, () => {
      const text = renderJob(
        job({
          status,
          definition: { ...job({}).definition, id: 'failed-1', name: 'cancelled-vm', vm_path: '/DC0/vm/completed-vm', output_path: '/out/failed' },
          progress: {
            ...progress([
              { key: 1, file: 'completed-disk1.vmdk', state: 'done', bytes_done: 1, size_bytes: 1, attempts: 1, method: 'datastore', reason: 'resumable' },
              { key: 2, file: 'disk2.vmdk', state: 'transferring', bytes_done: 0, size_bytes: 1, attempts: 2, method: 'ovf', reason: 'stream: restarts from zero because a datastore read failed' },
            ]),
            phase: 'transferring',
            current_file: 'failed-disk.vmdk',
            files_downloaded: 1,
            total_bytes: 2,
            bytes_downloaded: 1,
            bytes_transferred: 1,
            percent_complete: 50,
            transfer_rate_mbps: 1,
            elapsed_seconds: 3,
          },
          error: 'an attempt failed and was cancelled; retrying',
        }),
        io,
      );
      expect(text).toContain(`Status:   ${status}`);
      expect(text.toLowerCase()).not.toMatch(finalWords);
    });
  }

  it('a completed AWS export shows the snapshot it read changes since and the snapshots it kept; others show neither', () => {
    const result: NonNullable<Job['result']> = {
      vm_name: 'x',
      method: 'datastore',
      export_method: 'datastore',
      success: true,
      output_dir: '/out/x',
      ovf_path: '/out/x/x.ovf',
      manifest_path: '/out/x/x.mf',
      files: ['/out/x/x.ovf'],
      output_files: ['/out/x/x.ovf'],
      file_details: [{ name: 'x.ovf', path: '/out/x/x.ovf', size: 10 }],
      total_size: 10,
      duration: 1_000_000_000,
      duration_seconds: 1,
    };
    const incremental = renderJob(job({ status: 'completed', result: { ...result, since_snapshot: 'snap-0aaa1111', kept_snapshot: 'vol-0bbb2222=snap-0ccc3333' } }), io);
    expect(incremental).toContain('  Since:    snap-0aaa1111 (incremental: only the blocks changed since were read)\n');
    expect(incremental).toContain('  Kept:     vol-0bbb2222=snap-0ccc3333 (EBS snapshots kept; -since-snapshot for the next export to this output)\n');
    const plain = renderJob(job({ status: 'completed', result }), io);
    expect(plain).not.toMatch(/Since:|Kept:/);
  });

  it('a completed job shows its duration in seconds, not the nanoseconds of result.duration', () => {
    const text = renderJob(
      job({
        status: 'completed',
        completed_at: '2026-12-01T00:00:02.000Z',
        result: {
          vm_name: 'x',
          method: 'datastore',
          export_method: 'datastore',
          success: true,
          output_dir: '/out/x',
          ovf_path: '/out/x/x.ovf',
          manifest_path: '/out/x/x.mf',
          files: ['/out/x/x.ovf'],
          output_files: ['/out/x/x.ovf'],
          file_details: [{ name: 'x.ovf', path: '/out/x/x.ovf', size: 10 }],
          total_size: 10,
          duration: 1_500_000_000,
          duration_seconds: 1.5,
        },
      }),
      io,
    );
    expect(text).toContain('Files:    1 (10 B) in 1.5s');
    expect(text).toContain('completed');
  });
});
