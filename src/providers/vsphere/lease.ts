// HttpNfcLease: shared by ExportVm and ExportSnapshot. Wait until the lease is
// ready (or failed), then turn its device URLs into LeaseDevices: host "*" replaced
// by the host we talk to, and each disk URL mapped back to the VM disk key.
//
// Mapping device URLs to disks. vCenter/ESXi key each URL by the disk's position,
// "/vm-42/VirtualLsiLogicController0:1" (controller type + bus number, then unit
// number); vcsim keys them "/vm-42/disk:0" (n-th disk in device order). We try, in
// order: controller type+bus+unit, "disk:N" ordinal, targetId equal to the backing
// file's base name, then position among the disk URLs (disks sorted by controller
// bus and unit, the order vSphere exports them in).
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorType } from '../../core/errors.js';
import type { DiskDescription } from '../../core/vm-description.js';
import type { ExportSession, SessionDevice, SessionState } from '../../core/source-provider.js';
import { failure, faultName } from './faults.js';
import { retrieveOne } from './property-collector.js';
import type { VsphereSession } from './session.js';
import { readDevices, type DeviceInventory } from './vm.js';
import { arrayItems, bool, isObject, num, optText, text, xsiType, type MoRef } from './xml.js';

export interface RawLeaseDevice {
  key: string;
  url: string;
  sslThumbprint?: string;
  disk: boolean;
  targetId?: string;
  fileSize?: number;
}

export interface LeaseWaitOptions {
  timeoutMs: number;
  pollMs?: number;
}

/** Polls `state` until ready; returns the device URLs. Throws LeaseError for state error or timeout. */
export async function waitForLeaseReady(
  session: VsphereSession,
  lease: MoRef,
  options: LeaseWaitOptions,
): Promise<RawLeaseDevice[]> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = options.pollMs ?? 50;
  for (;;) {
    const props = await retrieveOne(session.client, session.content.propertyCollector, lease, [
      'state',
      'error',
      'info',
    ]);
    const state = text(props.get('state'));
    if (state === 'ready') return parseDeviceUrls(props.get('info'));
    if (state === 'error' || state === 'done') {
      const error = props.get('error');
      const fault = isObject(error) ? error.fault : undefined;
      const reason = isObject(error) ? text(error.localizedMessage) : '';
      throw failure(
        ErrorType.LeaseError,
        `lease ${lease.value} ${state === 'done' ? 'ended' : 'failed'} before it was ready: ${xsiType(fault) ?? 'unknown'}${reason ? `: ${reason}` : ''}`,
        false,
      );
    }
    if (Date.now() >= deadline) {
      throw failure(
        ErrorType.LeaseError,
        `lease ${lease.value} not ready within ${options.timeoutMs} ms (state ${state})`,
        false,
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(delay * 2, 1000);
  }
}

export function parseDeviceUrls(info: unknown): RawLeaseDevice[] {
  if (!isObject(info)) return [];
  return arrayItems(info.deviceUrl)
    .filter(isObject)
    .map((d) => {
      const fileSize = d.fileSize !== undefined ? num(d.fileSize) : undefined;
      return {
        key: text(d.key),
        url: text(d.url),
        sslThumbprint: optText(d.sslThumbprint) || undefined,
        disk: bool(d.disk),
        targetId: optText(d.targetId) || undefined,
        // vcsim reports 0 for "unknown"; only a positive size is information.
        fileSize: fileSize && fileSize > 0 ? fileSize : undefined,
      };
    });
}

/**
 * "https://*\/nfc/..." -> "https://<vCenter host>/nfc/...". A port in the device URL
 * is kept; without one, the port we reach vCenter on is used.
 */
export function replaceWildcardHost(url: string, host: string): string {
  const m = /^(https?:\/\/)\*(:\d+)?(.*)$/s.exec(url);
  if (!m) return url;
  const [, scheme, port, rest] = m;
  const hostname = host.replace(/:\d+$/, '');
  return `${scheme}${port ? hostname + port : host}${rest}`;
}

/** Pairs each device URL with the VM disk it serves (see the header comment for the rules). */
export function mapLeaseDevices(
  raw: RawLeaseDevice[],
  inventory: DeviceInventory,
  host: string,
): SessionDevice[] {
  const disks = [...inventory.disks].sort((a, b) => diskOrder(a, inventory) - diskOrder(b, inventory));
  const used = new Set<number>();
  const take = (disk: DiskDescription | undefined) => {
    if (!disk || used.has(disk.key)) return undefined;
    used.add(disk.key);
    return disk.key;
  };
  const byPosition = (key: string) => {
    const m = /\/([A-Za-z]+?)(\d+):(\d+)$/.exec(key);
    if (!m) return undefined;
    const [, vimType, bus, unit] = m;
    return inventory.disks.find((d) => {
      const c = inventory.controllers.get(d.controllerKey);
      return (
        c !== undefined &&
        c.vimType === vimType &&
        c.busNumber === Number(bus) &&
        d.unitNumber === Number(unit)
      );
    });
  };
  const byOrdinal = (key: string) => {
    const m = /\/disk:(\d+)$/.exec(key);
    return m ? inventory.disks[Number(m[1])] : undefined;
  };
  const byTarget = (targetId: string | undefined) =>
    targetId ? inventory.disks.find((d) => d.backingFile.split('/').pop() === targetId) : undefined;

  const devices: SessionDevice[] = raw.map((d) => {
    const diskKey = d.disk
      ? (take(byPosition(d.key)) ?? take(byOrdinal(d.key)) ?? take(byTarget(d.targetId)))
      : undefined;
    return {
      deviceId: d.key,
      ...(diskKey !== undefined ? { diskKey } : {}),
      ...(d.targetId ? { targetId: d.targetId } : {}),
      url: replaceWildcardHost(d.url, host),
      ...(d.fileSize !== undefined ? { sizeBytes: d.fileSize } : {}),
      ...(d.sslThumbprint ? { sslThumbprint: d.sslThumbprint } : {}),
      isDisk: d.disk,
    };
  });
  // Last resort: remaining disk URLs take the remaining disks in export order.
  const remaining = disks.filter((d) => !used.has(d.key));
  for (const dev of devices) {
    if (dev.isDisk && dev.diskKey === undefined) {
      const disk = remaining.shift();
      if (disk) dev.diskKey = disk.key;
    }
  }
  return devices;
}

function diskOrder(d: DiskDescription, inv: DeviceInventory): number {
  const c = inv.controllers.get(d.controllerKey);
  return (c ? c.key : 0) * 1000 + d.unitNumber;
}

/** Opens the lease returned by ExportVm/ExportSnapshot and waits until it is ready. */
export async function openLease(
  session: VsphereSession,
  lease: MoRef,
  devicesValue: unknown,
  options: LeaseWaitOptions,
): Promise<ExportSession> {
  const raw = await waitForLeaseReady(session, lease, options);
  return { id: lease.value, devices: mapLeaseDevices(raw, readDevices(devicesValue), session.host) };
}

export async function leaseState(session: VsphereSession, lease: MoRef): Promise<SessionState> {
  const props = await leaseCall(lease, () =>
    retrieveOne(session.client, session.content.propertyCollector, lease, ['state']),
  );
  const state = text(props.get('state'));
  if (state === 'initializing' || state === 'ready' || state === 'done' || state === 'error') return state;
  throw failure(ErrorType.LeaseLost, `lease ${lease.value} has no state (gone)`, false);
}

/** Runs a lease call; a lease the server no longer knows (expired, aborted) becomes LeaseLost. */
export async function leaseCall<T>(lease: MoRef, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const name = faultName(err);
    if (name === 'ManagedObjectNotFound' || name === 'InvalidState' || name === 'Timedout') {
      throw failure(ErrorType.LeaseLost, `lease ${lease.value} is no longer usable (${name})`, false);
    }
    throw err;
  }
}
