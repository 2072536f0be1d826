// Two exports of one VM into one output claiming the same disk at the same moment:
// on a real directory, exactly one claim is written and the other is refused
// (OutputInUse), whichever order the reads and writes interleave in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../core/errors.js';
import type { VmDescription } from '../core/vm-description.js';
import { LocalSink } from '../storage/local-sink.js';
import { diskIdentity } from './disk-identity.js';
import { claimStaged, stagedRecord } from './staging.js';
import type { TransferDiskInput } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'hypersdk-claim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vm = { id: 'vm-1', instanceUuid: 'u-1', name: 'web', disks: [{ key: 0, backingFile: '[ds] web.vmdk', capacityBytes: 1 }] } as unknown as VmDescription;
const input = (jobId: string) => ({ jobId, vm, diskKey: 0, fileName: 'web-disk1.vmdk' }) as TransferDiskInput;

describe('claimStaged', () => {
  it('lets one of two racing jobs claim a disk and refuses the other with OutputInUse', async () => {
    for (let round = 0; round < 20; round++) {
      const sink = new LocalSink(join(dir, `round-${round}`));
      const identity = diskIdentity(vm, 0, { kind: 'vm', vmId: 'vm-1' }, undefined);
      const outcomes = await Promise.allSettled([claimStaged(sink, input('job-a'), identity), claimStaged(sink, input('job-b'), identity)]);
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(refused, `round ${round}`).toHaveLength(1);
      expect((refused[0]!.reason as { type?: string }).type).toBe(ErrorType.OutputInUse);
      const winner = outcomes[0].status === 'fulfilled' ? 'job-a' : 'job-b';
      expect((await sink.readStaged('web-disk1.vmdk'))?.jobId).toBe(winner);
      // The winner's retry (same job) keeps its claim.
      await expect(claimStaged(sink, input(winner), identity)).resolves.toBeUndefined();
      await sink.close();
    }
  });

  it("refuses to discard a job's verified image while that job still writes the VM's next one (the siblings are looked up by the image's name)", async () => {
    const two = { ...vm, disks: [{ key: 0, capacityBytes: 1 }, { key: 1, capacityBytes: 1 }] } as unknown as VmDescription;
    const sink = new LocalSink(join(dir, 'siblings'));
    const identity = diskIdentity(two, 0, { kind: 'vm', vmId: 'vm-1' }, undefined);
    // job-a finished web-disk1.qcow2 (verified; without validators, not provably the same source, so not reusable) and is writing web-disk2.qcow2.
    await sink.writeStaged('web-disk1.qcow2', stagedRecord('job-a', identity, { bytes: 1, sha256: 'a'.repeat(64) }));
    await sink.writeStaged('web-disk2.qcow2', stagedRecord('job-a', identity));
    const qcow2 = { jobId: 'job-b', vm: two, diskKey: 0, fileName: 'web-disk1.qcow2', image: { format: 'qcow2', virtualSize: 1 } } as TransferDiskInput;
    await expect(claimStaged(sink, qcow2, identity)).rejects.toMatchObject({ type: ErrorType.OutputInUse, message: expect.stringContaining('export job-a is writing web-disk2.qcow2') as unknown });
    expect((await sink.readStaged('web-disk1.qcow2'))?.jobId).toBe('job-a');
    await sink.close();
  });
});
