// Stopping an instance for an export that asked for power_off: StopInstances (the
// guest is asked to shut down; EC2 forces it itself after a while), polled until
// 'stopped'; past the job's shutdown timeout, StopInstances with Force (a hard stop:
// no guest shutdown, file system caches lost). Already stopped: nothing to do.
import { DescribeInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorType } from '../../core/errors.js';
import type { AwsClients } from './clients.js';
import { awsCall, failure } from './errors.js';

export interface StopOptions {
  graceful: boolean;
  /** How long a graceful stop may take before it is forced. */
  timeoutMs: number;
  pollIntervalMs: number;
  /** How long a forced stop may take (default 10 min). */
  forcedTimeoutMs: number;
}

export async function stopInstance(c: AwsClients, instanceId: string, o: StopOptions): Promise<void> {
  const subject = `instance ${instanceId}`;
  const state = async (): Promise<string | undefined> => {
    const out = await awsCall({ action: 'ec2:DescribeInstances', region: c.region, subject }, () =>
      c.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    );
    return out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId)?.State
      ?.Name;
  };
  const stop = (force: boolean) =>
    awsCall({ action: 'ec2:StopInstances', region: c.region, subject }, () =>
      c.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: force })),
    );
  /** Polls until stopped (true) or the deadline (false); an instance still booting is let finish first (EC2 refuses to stop it). */
  const until = async (deadline: number, force: boolean): Promise<boolean> => {
    let asked = false;
    for (;;) {
      const now = await state();
      if (now === 'stopped') return true;
      if (now === 'terminated' || now === 'shutting-down') {
        throw failure(
          ErrorType.InvalidPowerState,
          `AWS ${c.region}: ${subject} is ${now}: it cannot be stopped for an export`,
          true,
        );
      }
      if (!asked && (now === 'running' || (force && now === 'stopping'))) {
        await stop(force);
        asked = true;
      }
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await sleep(Math.min(o.pollIntervalMs, left));
    }
  };

  if ((await state()) === 'stopped') return;
  if (o.graceful && (await until(Date.now() + o.timeoutMs, false))) return;
  if (await until(Date.now() + o.forcedTimeoutMs, true)) return;
  throw failure(
    ErrorType.Timeout,
    `AWS ${c.region}: ${subject} did not stop within ${Math.round(o.forcedTimeoutMs / 1000)} s of a forced stop`,
    false,
  );
}
