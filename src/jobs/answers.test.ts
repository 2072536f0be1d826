// GET /jobs/progress/{id} and GET /jobs/eta/{id} from a job view: every progress
// key also at the top level (the Python SDK builds JobProgress from the whole
// answer), and the ETA from the live rate.
import { describe, expect, it } from 'vitest';
import type { Job } from './job-schemas.js';
import { etaAnswer, progressAnswer } from './answers.js';
import { progressView } from './views.js';

const at = Date.parse('2026-12-01T10:01:40.000Z');
const running: Job = {
  definition: {} as Job['definition'],
  status: 'running',
  started_at: '2026-12-01T10:00:00.000Z',
  updated_at: '2026-12-01T10:01:39.000Z',
  progress: progressView({
    status: 'running',
    query: { phase: 'transferring', method: 'datastore', disks: [{ key: 1, fileName: 'd.vmdk', sizeBytes: 300 * 1024 * 1024, bytesDone: 100 * 1024 * 1024, state: 'transferring', attempts: 1 }], startedAt: '', updatedAt: '' },
    heartbeats: [],
    rate: 10 * 1024 * 1024,
    elapsedSeconds: 99,
  }),
};

describe('progress answer', () => {
  it('has every progress key at the top level too, with the time since the start', () => {
    const answer = progressAnswer('j1', running, at);
    expect(answer).toMatchObject({ job_id: 'j1', status: 'running', phase: 'transferring', transfer_rate_mbps: 10, elapsed_seconds: 100, started_at: running.started_at });
    for (const key of Object.keys(running.progress!)) expect(answer).toHaveProperty(key);
    expect(answer.progress.elapsed_seconds).toBe(100);
    expect(answer).not.toHaveProperty('completed_at');
    expect(answer).not.toHaveProperty('error');
  });

  it('a pending job without progress still has a phase, and an ended one its end and error', () => {
    const pending = progressAnswer('j2', { ...running, status: 'pending', progress: undefined }, at);
    expect(pending).toMatchObject({ phase: 'pending', percent_complete: 0, bytes_transferred: 0 });
    const failed = progressAnswer('j3', { ...running, status: 'failed', progress: undefined, completed_at: '2026-12-01T10:00:30.000Z', error: 'VM not found' }, at);
    expect(failed).toMatchObject({ phase: 'failed', error: 'VM not found', completed_at: '2026-12-01T10:00:30.000Z', elapsed_seconds: 30 });
  });
});

describe('eta answer', () => {
  it('a running job: remaining time from the live rate, in the original eta shape', () => {
    const answer = etaAnswer('j1', running, at);
    expect(answer).toMatchObject({ job_id: 'j1', status: 'running', estimated_remaining: '20s', estimated_remaining_seconds: 20 });
    expect(answer.eta).toEqual({
      time_remaining: '20s',
      time_remaining_seconds: 20,
      elapsed: '1m40s',
      elapsed_seconds: 100,
      percent_complete: 33.33,
      transfer_rate_mbps: 10,
      bytes_remaining: 200 * 1024 * 1024,
      estimated_completion: '2026-12-01T10:02:00.000Z',
    });
  });

  it('no rate yet, not started, or ended: a message and no estimate ("" unless completed)', () => {
    const noRate = { ...running, progress: { ...running.progress!, estimated_remaining: '', estimated_remaining_seconds: undefined } };
    expect(etaAnswer('j', noRate, at)).toMatchObject({ estimated_remaining: '', eta: { message: expect.stringContaining('rate') as unknown, elapsed: '1m40s' } });
    expect(etaAnswer('j', { ...running, status: 'pending' }, at)).toMatchObject({ estimated_remaining: '', eta: { message: expect.stringContaining('not started') as unknown } });
    const done = etaAnswer('j', { ...running, status: 'completed', completed_at: '2026-12-01T10:01:00.000Z' }, at);
    expect(done).toMatchObject({ estimated_remaining: '0s', estimated_remaining_seconds: 0, eta: { elapsed_seconds: 60 } });
    expect(etaAnswer('j', { ...running, status: 'cancelled' }, at).estimated_remaining).toBe('');
  });
});
