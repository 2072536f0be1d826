// SOAP faults and transport failures -> ApplicationFailure with a fixed `type`, so
// they cross Temporal boundaries unchanged and workflows can branch on the string.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';
import { childByLocalName, isObject, text, xsiType } from './xml.js';

export interface SoapFaultInfo {
  /** vim25 fault type, e.g. "InvalidLogin", "ManagedObjectNotFound"; "ServerFaultCode" when the server gave none. */
  name: string;
  message: string;
}

/** Reads a soapenv:Fault element (faultstring + detail/<XFault xsi:type="X">). */
export function parseFault(fault: unknown): SoapFaultInfo {
  const message = text(childByLocalName(fault, 'faultstring')).trim();
  const detail = childByLocalName(fault, 'detail');
  let name: string | undefined;
  if (isObject(detail)) {
    for (const [key, value] of Object.entries(detail)) {
      if (key.startsWith('@_') || key === '#text') continue;
      const local = key.includes(':') ? key.slice(key.indexOf(':') + 1) : key;
      name = xsiType(value) ?? local.replace(/Fault$/, '');
      break;
    }
  }
  // vcsim reports unimplemented methods without a detail element.
  if (!name && /does not implement/i.test(message)) name = 'NotImplemented';
  return { name: name ?? 'ServerFaultCode', message };
}

const NOT_SUPPORTED = new Set(['NotImplemented', 'NotSupported', 'RestrictedVersion', 'MethodNotFound']);
const INVALID_POWER_STATE = new Set(['InvalidPowerState', 'InvalidState', 'ToolsUnavailable']);

/** Maps a vim25 fault to the ErrorType the rest of the system understands. */
export function faultToFailure(fault: SoapFaultInfo, context: string): ApplicationFailure {
  const message = `${context}: ${fault.name}${fault.message ? `: ${fault.message}` : ''}`;
  if (fault.name === 'InvalidLogin' || fault.name === 'NoPermission' || fault.name === 'NotAuthenticated') {
    return failure(ErrorType.AuthenticationFailed, message, true, fault);
  }
  if (fault.name === 'ManagedObjectNotFound') return failure(ErrorType.VmNotFound, message, true, fault);
  if (INVALID_POWER_STATE.has(fault.name)) return failure(ErrorType.InvalidPowerState, message, false, fault);
  if (NOT_SUPPORTED.has(fault.name)) return failure(ErrorType.NotSupported, message, true, fault);
  return failure(ErrorType.SoapFault, message, false, fault);
}

export function failure(
  type: ErrorType,
  message: string,
  nonRetryable: boolean,
  fault?: SoapFaultInfo,
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable,
    details: fault ? [{ fault: fault.name }] : undefined,
  });
}

/** The vim25 fault name carried by a failure we created, if any. */
export function faultName(err: unknown): string | undefined {
  if (!(err instanceof ApplicationFailure)) return undefined;
  const d: unknown = err.details?.[0];
  return isObject(d) && typeof d.fault === 'string' ? d.fault : undefined;
}
