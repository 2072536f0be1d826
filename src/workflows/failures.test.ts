// rootMessage decides the message of a failed export (what hyperctl and the API
// show), so which link of the cause chain it picks matters.
import { describe, expect, it } from 'vitest';
import { failureType, rootMessage } from './failures.js';

describe('rootMessage', () => {
  it("takes the activity's application message over the wrappers around it", () => {
    const chain = {
      message: 'Activity task failed',
      cause: { type: 'VmPoweredOn', message: 'VM "x" is poweredOn: export it with snapshot: true' },
    };
    expect(rootMessage(chain)).toBe('VM "x" is poweredOn: export it with snapshot: true');
  });

  it('takes the innermost message when no link is an application failure (a heartbeat timeout)', () => {
    const chain = { message: 'Activity task timed out', cause: { timeoutType: 'HEARTBEAT', message: 'activity Heartbeat timeout' } };
    expect(rootMessage(chain)).toBe('activity Heartbeat timeout');
  });

  it("keeps a workflow-raised failure's words over the server timeout beneath it (WorkerLost)", () => {
    const chain = {
      type: 'WorkerLost',
      message: 'the worker w1 that holds this export\'s files has been gone for more than 5 s',
      cause: {
        message: 'Activity task timed out',
        cause: { timeoutType: 'SCHEDULE_TO_START', message: 'activity ScheduleToStart timeout' },
      },
    };
    expect(rootMessage(chain)).toBe("the worker w1 that holds this export's files has been gone for more than 5 s");
    expect(failureType(chain)).toBe('WorkerLost');
  });

  it('takes the innermost of nested application failures', () => {
    expect(rootMessage({ type: 'Error', message: 'outer', cause: { type: 'Error', message: 'inner' } })).toBe('inner');
  });

  it('says so when there is no message at all', () => {
    expect(rootMessage({})).toBe('unknown error');
    expect(rootMessage(undefined)).toBe('unknown error');
  });
});
