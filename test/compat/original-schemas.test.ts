// The judges judged: the schemas take what the original Go daemon writes and refuse
// what its Go structs or its Python SDK would choke on. No server needed.
import { describe, expect, it } from 'vitest';
import { goDurationSeconds } from './helpers.js';
import {
  cancelResponse,
  etaResponse,
  goTimeProblem,
  job,
  progressResponse,
  submitResponse,
} from './original-schemas.js';

/** A completed job as the original daemon's encoding/json writes models.Job. */
const originalCompletedJob = {
  definition: {
    id: 'a1',
    name: 'web01',
    vm_path: '/DC0/vm/web01',
    output_dir: '/exports/web01',
    format: 'ovf',
    export_method: '',
    created_at: '2026-02-04T10:00:00.123456Z',
  },
  status: 'completed',
  progress: {
    phase: 'completed',
    files_downloaded: 2,
    total_files: 2,
    bytes_downloaded: 1024,
    bytes_transferred: 1024,
    total_bytes: 1024,
    percent_complete: 100,
  },
  result: {
    vm_name: 'web01',
    output_dir: '/exports/web01',
    ovf_path: '/exports/web01/web01.ovf',
    files: ['web01.ovf'],
    total_size: 1024,
    duration: 1_500_000_000,
    success: true,
  },
  started_at: '2026-02-04T10:00:01Z',
  completed_at: '2026-02-04T11:00:02.500+01:00',
  updated_at: '2026-02-04T10:00:02Z',
};

describe('original schemas', () => {
  it('accept what the original daemon writes', () => {
    expect(job.safeParse(originalCompletedJob).error).toBeUndefined();
  });

  it.each([
    ['a duration in seconds (float)', { result: { ...originalCompletedJob.result, duration: 1.5 } }],
    ['a byte count as a string', { result: { ...originalCompletedJob.result, total_size: '1024' } }],
    ['a result without success', { result: { ...originalCompletedJob.result, success: undefined } }],
    ['progress without phase', { progress: { bytes_downloaded: 1 } }],
    [
      'export_method outside the Python enum',
      { definition: { ...originalCompletedJob.definition, export_method: 'auto' } },
    ],
    ['format outside the Python enum', { definition: { ...originalCompletedJob.definition, format: 'OVF' } }],
    ['no updated_at', { updated_at: undefined }],
    [
      'a password in the definition',
      { definition: { ...originalCompletedJob.definition, vcenter: { server: 'vc', password: 'x' } } },
    ],
  ])('refuse %s', (_what, change) => {
    expect(job.safeParse({ ...originalCompletedJob, ...change }).success).toBe(false);
  });

  it('times: Go RFC 3339, and fraction digits Python 3.8 fromisoformat reads', () => {
    expect(goTimeProblem('2026-02-04T10:00:00Z')).toBeUndefined();
    expect(goTimeProblem('2026-02-04T10:00:00.123+05:30')).toBeUndefined();
    expect(goTimeProblem('2026-02-04T10:00:00.123456789Z')).toMatch(/fraction/);
    expect(goTimeProblem('2026-02-04 10:00:00Z')).toMatch(/RFC 3339/);
    expect(goTimeProblem('2026-02-30T10:00:00Z')).toMatch(/day/);
    expect(goTimeProblem('1738663200')).toMatch(/RFC 3339/);
  });

  it('Go duration strings', () => {
    expect(goDurationSeconds('1m2.5s')).toBe(62.5);
    expect(goDurationSeconds('850ms')).toBeCloseTo(0.85);
    expect(goDurationSeconds('0s')).toBe(0);
    expect(goDurationSeconds('12 seconds')).toBeNaN();
    const eta = {
      job_id: 'a',
      status: 'running',
      eta: { message: 'ETA calculation not available yet' },
      timestamp: '2026-02-04T10:00:00Z',
    };
    expect(etaResponse.safeParse({ ...eta, estimated_remaining: '1m2s' }).success).toBe(true);
    expect(etaResponse.safeParse({ ...eta, estimated_remaining: '' }).success).toBe(true);
    expect(etaResponse.safeParse({ ...eta, estimated_remaining: '62 s' }).success).toBe(false);
  });

  it('cancel errors are a map with an entry for every failed id; submit errors say why when nothing was accepted', () => {
    const base = { cancelled: [], failed: ['x'], timestamp: '2026-02-04T10:00:00Z' };
    expect(cancelResponse.safeParse({ ...base, errors: { x: 'job not found' } }).success).toBe(true);
    expect(cancelResponse.safeParse({ ...base, errors: ['job x not found'] }).success).toBe(false);
    expect(cancelResponse.safeParse(base).success).toBe(false);
    const submit = { job_ids: [], accepted: 0, rejected: 1, timestamp: '2026-02-04T10:00:00Z' };
    expect(submitResponse.safeParse({ ...submit, errors: ['format: qcow2 ...'] }).success).toBe(true);
    expect(submitResponse.safeParse({ ...submit, errors: [] }).success).toBe(false);
  });

  it('progress answers carry phase at the top level (get_job_progress reads the whole answer)', () => {
    const answer = {
      job_id: 'a',
      status: 'running',
      progress: { phase: 'exporting' },
      transfer_rate_mbps: 1.5,
      elapsed_seconds: 3.2,
      timestamp: '2026-02-04T10:00:00Z',
    };
    expect(progressResponse.safeParse(answer).success).toBe(false);
    expect(progressResponse.safeParse({ ...answer, phase: 'exporting' }).success).toBe(true);
  });
});
