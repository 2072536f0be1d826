// Exports in flight when workers are upgraded are replayed by the new workflow code.
// The fixture is the history of a local export (snapshot, NFC lease, keep-alive)
// recorded with the workflow as it was before local exports claimed a worker: its
// first activity is describeVm, so the new code must not schedule claimWorker when
// it replays it, or every such export would fail with a nondeterminism error.
// Binary protobuf rather than JSON: the SDK's JSON history reader fails in this
// dependency tree (@temporalio/common and @temporalio/proto each carry their own
// protobufjs 8, and its protojson rejects the other copy's types).
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { workflowsPath } from '../../src/worker/create-worker.js';

const fixture = new URL('../fixtures/history-local-export-before-worker-affinity.pb', import.meta.url);

describe('replay of a local export recorded before worker affinity', () => {
  it('replays without a nondeterminism error and without claiming a worker', async () => {
    const history = proto.api.history.v1.History.decode(readFileSync(fixture));
    const scheduled = (history.events ?? []).flatMap((e) => {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return name ? [name] : [];
    });
    expect(scheduled).toEqual(['describeVm', 'prepareExport', 'openLease', 'keepLeaseAlive', 'transferDisk', 'finalizeExport', 'completeLease', 'cleanupExport']);
    await Worker.runReplayHistory({ workflowsPath: workflowsPath() }, history, 'replay-local-before-affinity');
  });
});
