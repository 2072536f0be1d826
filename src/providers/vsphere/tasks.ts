// Waiting for vSphere tasks: poll Task.info until success or error, report progress,
// and turn the task's fault into the same typed failure a direct call would give.
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorType } from '../../core/errors.js';
import { failure, faultToFailure } from './faults.js';
import { retrieveOne } from './property-collector.js';
import type { VsphereSession } from './session.js';
import { isObject, moref, num, text, xsiType, type MoRef } from './xml.js';

export interface WaitOptions {
  timeoutMs: number;
  onProgress?: (percent: number) => void;
}

/** Waits for a task; returns its result (parsed XML, e.g. a snapshot moref) or throws its fault. */
export async function waitForTask(
  session: VsphereSession,
  task: MoRef,
  options: WaitOptions,
): Promise<unknown> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = 50;
  for (;;) {
    const props = await retrieveOne(session.client, session.content.propertyCollector, task, ['info']);
    const info = props.get('info');
    const state = isObject(info) ? text(info.state) : '';
    if (state === 'success') return isObject(info) ? info.result : undefined;
    if (state === 'error') throw taskFault(info, task);
    if (isObject(info) && info.progress !== undefined) options.onProgress?.(num(info.progress));
    if (Date.now() >= deadline) {
      throw failure(
        ErrorType.Timeout,
        `task ${task.value} did not finish within ${options.timeoutMs} ms`,
        false,
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(delay * 2, 1000);
  }
}

function taskFault(info: unknown, task: MoRef): Error {
  const error = isObject(info) ? info.error : undefined;
  const fault = isObject(error) ? error.fault : undefined;
  const name = xsiType(fault) ?? 'SystemError';
  const message = isObject(error) ? text(error.localizedMessage) : '';
  const described = isObject(info) ? text(info.descriptionId) || text(info.name) : '';
  return faultToFailure({ name, message }, `task ${task.value}${described ? ` (${described})` : ''}`);
}

/** Invokes a *_Task method and waits for it. */
export async function runTask(
  session: VsphereSession,
  method: string,
  args: Parameters<VsphereSession['client']['call']>[1],
  options: WaitOptions,
): Promise<unknown> {
  const task = moref(await session.client.call(method, args));
  return waitForTask(session, task, options);
}
