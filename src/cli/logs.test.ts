import { describe, expect, it } from 'vitest';
import { renderLogLine, SeenLines, type JobLogLine, type JobLogsResponse } from './commands/logs.js';

// An answer in the shape of GET /jobs/logs/{id}.
const answer: JobLogsResponse = {
  job_id: 'j1',
  logs: [
    { timestamp: '2026-12-01T10:00:00.000Z', level: 'info', message: 'workflow started', source: 'history' },
    { timestamp: '2026-12-01T10:00:01.000Z', level: 'warn', message: 'transfer retried\nafter a reset', source: 'worker', details: { file: 'disk-1.vmdk', attempt: 2, reason: 'connection reset' } },
  ],
  log_count: 2,
  timestamp: '2026-12-01T10:00:02.000Z',
};

describe('hyperctl logs rendering', () => {
  it('prints time, level, source, message on one line, details as key=value', () => {
    expect(answer.logs.map(renderLogLine)).toEqual([
      '2026-12-01T10:00:00.000Z INFO  [history] workflow started',
      '2026-12-01T10:00:01.000Z WARN  [worker] transfer retried after a reset file=disk-1.vmdk attempt=2 reason="connection reset"',
    ]);
  });

  it('while following, prints each line once, repeated lines as often as they occur', () => {
    const seen = new SeenLines();
    const a = answer.logs[0]!;
    const b = answer.logs[1]!;
    const c: JobLogLine = { ...a, message: 'tick' };
    expect(seen.unseen([a, b])).toEqual([a, b]);
    expect(seen.unseen([a, b, c])).toEqual([c]);
    expect(seen.unseen([a, b, c, c])).toEqual([c]);
    // A bounded log dropping its oldest lines shows nothing old again.
    expect(seen.unseen([c, c])).toEqual([]);
  });
});
