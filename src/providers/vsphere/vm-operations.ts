// Changes made to a VM on request (REST /vms/shutdown, /vms/poweroff,
// /vms/remove-cdrom): guest shutdown, hard power-off, removal of CD/DVD drives.
// Each is idempotent, so a retried activity finds the work done and says so.
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorType } from '../../core/errors.js';
import { VmOperationErrorType } from '../../core/vm-operation-contract.js';
import type { PowerState, VmStateChange } from '../../core/vm-description.js';
import { failure, faultName } from './faults.js';
import { resolveVm } from './lookup.js';
import { retrieveOne } from './property-collector.js';
import type { VsphereSession } from './session.js';
import { runTask } from './tasks.js';
import { arrayItems, isObject, MoRef, num, text, Typed, xsiType } from './xml.js';

interface TargetVm {
  ref: MoRef;
  id: string;
  name: string;
  powerState: PowerState;
}

/** How often a shutdown polls the power state: quickly at first, then every 2 s. */
export interface PollSettings {
  firstMs: number;
  maxMs: number;
}
const DEFAULT_POLL: PollSettings = { firstMs: 100, maxMs: 2_000 };

function powerStateOf(value: unknown): PowerState {
  const s = text(value);
  return s === 'poweredOn' || s === 'suspended' ? s : 'poweredOff';
}

async function readPowerState(session: VsphereSession, vm: MoRef): Promise<PowerState> {
  const props = await retrieveOne(session.client, session.content.propertyCollector, vm, ['runtime.powerState']);
  return powerStateOf(props.get('runtime.powerState'));
}

async function findTarget(session: VsphereSession, ref: string, extra: string[] = []): Promise<{ vm: TargetVm; props: Map<string, unknown> }> {
  const id = await resolveVm(session, ref);
  const vmRef = new MoRef('VirtualMachine', id);
  const props = await retrieveOne(session.client, session.content.propertyCollector, vmRef, ['name', 'runtime.powerState', ...extra]);
  return { vm: { ref: vmRef, id, name: text(props.get('name')), powerState: powerStateOf(props.get('runtime.powerState')) }, props };
}

const change = (vm: TargetVm, changed: boolean, powerState: PowerState, message: string): VmStateChange => ({
  vmId: vm.id,
  vmName: vm.name,
  changed,
  powerState,
  message,
});

/**
 * ShutdownGuest, then waits until the VM is off. vCenter refuses the request with
 * ToolsUnavailable when VMware Tools is not running in the guest: that is reported
 * at once (ToolsNotRunning) instead of waiting for a shutdown that cannot happen.
 */
export async function shutdownGuest(session: VsphereSession, ref: string, timeoutMs: number, poll: PollSettings = DEFAULT_POLL): Promise<VmStateChange> {
  const { vm } = await findTarget(session, ref);
  if (vm.powerState === 'poweredOff') return change(vm, false, 'poweredOff', `VM ${vm.name} is already powered off`);
  try {
    await session.client.call('ShutdownGuest', { _this: vm.ref });
  } catch (err) {
    const refusal = shutdownRefusal(vm.name, faultName(err));
    if (!refusal) throw err;
    // A guest that finished shutting down just before the request is what was asked.
    const now = await readPowerState(session, vm.ref);
    if (now === 'poweredOff') return change(vm, false, now, `VM ${vm.name} is already powered off`);
    throw refusal(now);
  }
  const deadline = Date.now() + timeoutMs;
  let delay = poll.firstMs;
  for (;;) {
    const state = await readPowerState(session, vm.ref);
    if (state === 'poweredOff') return change(vm, true, state, `VM ${vm.name} was shut down by its guest OS`);
    if (Date.now() >= deadline) {
      throw failure(
        ErrorType.Timeout,
        `VM ${vm.name} is still ${state} ${Math.round(timeoutMs / 1000)} s after its guest OS was asked to shut down; the guest may be ignoring the request: wait longer (timeout) or power it off (poweroff)`,
        true,
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(delay * 2, poll.maxMs);
  }
}

/**
 * The failure for a ShutdownGuest fault that means "not in this state", given the
 * VM's power state read afterwards; undefined for any other fault.
 */
export function shutdownRefusal(vmName: string, fault: string | undefined): ((state: PowerState) => ApplicationFailure) | undefined {
  if (fault === 'ToolsUnavailable') {
    return () =>
      ApplicationFailure.create({
        type: VmOperationErrorType.ToolsNotRunning,
        message: `VM ${vmName}: VMware Tools is not running in the guest, so it cannot be asked to shut down; start VMware Tools or power the VM off (poweroff)`,
        nonRetryable: true,
        details: [{ fault }],
      });
  }
  if (fault === 'InvalidPowerState' || fault === 'InvalidState') {
    return (state) =>
      ApplicationFailure.create({
        type: ErrorType.InvalidPowerState,
        message: `VM ${vmName} is ${state}: only a powered-on VM can be shut down${state === 'suspended' ? '; power it off (poweroff) instead' : ''}`,
        nonRetryable: true,
        details: [{ fault }],
      });
  }
  return undefined;
}

/** PowerOffVM_Task; a VM already off is success (changed: false). */
export async function hardPowerOff(session: VsphereSession, ref: string, timeoutMs: number): Promise<VmStateChange> {
  const { vm } = await findTarget(session, ref);
  if (vm.powerState === 'poweredOff') return change(vm, false, 'poweredOff', `VM ${vm.name} is already powered off`);
  try {
    await runTask(session, 'PowerOffVM_Task', { _this: vm.ref }, { timeoutMs });
  } catch (err) {
    // Powered off by someone else (or its guest) between our read and the task.
    if (faultName(err) === 'InvalidPowerState' && (await readPowerState(session, vm.ref)) === 'poweredOff') {
      return change(vm, false, 'poweredOff', `VM ${vm.name} is already powered off`);
    }
    throw err;
  }
  return change(vm, true, 'poweredOff', `VM ${vm.name} was powered off`);
}

/** ReconfigVM_Task removing every VirtualCdrom of the VM (none: changed false). */
export async function removeCdroms(session: VsphereSession, ref: string, timeoutMs: number): Promise<VmStateChange> {
  const { vm, props } = await findTarget(session, ref, ['config.hardware.device']);
  const cdroms = arrayItems(props.get('config.hardware.device'))
    .filter(isObject)
    .filter((d) => xsiType(d) === 'VirtualCdrom');
  if (cdroms.length === 0) return { ...change(vm, false, vm.powerState, `VM ${vm.name} has no CD/DVD drive`), removedCdroms: [] };
  const labels = cdroms.map((d) => (isObject(d.deviceInfo) ? text(d.deviceInfo.label) : '') || `CD/DVD drive ${num(d.key)}`);
  // vCenter identifies a device to remove by its key; controller and unit are sent as read.
  const deviceChange = cdroms.map((d) => ({
    operation: 'remove',
    device: new Typed('VirtualCdrom', {
      key: num(d.key),
      ...(d.controllerKey !== undefined ? { controllerKey: num(d.controllerKey) } : {}),
      ...(d.unitNumber !== undefined ? { unitNumber: num(d.unitNumber) } : {}),
    }),
  }));
  await runTask(session, 'ReconfigVM_Task', { _this: vm.ref, spec: { deviceChange } }, { timeoutMs });
  return {
    ...change(vm, true, vm.powerState, `removed ${labels.length} CD/DVD drive(s) from VM ${vm.name}: ${labels.join(', ')}`),
    removedCdroms: labels,
  };
}
