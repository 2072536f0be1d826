// GET /capabilities, in the original daemon's shape. The original detected
// external tools (ctl, govc, ovftool) and fell back to its built-in web method;
// this server has no external tool: both methods are built in, always available.
import type { ExportMethod } from '../core/export-contract.js';
import { now } from './http-error.js';

interface Capability {
  method: string;
  available: boolean;
  version: string;
  path: string;
  /** 1 first: what `auto` prefers for a disk that allows it. */
  priority: number;
  last_checked: string;
}

export function capabilities(defaultMethod: ExportMethod, checkedAt: Date) {
  const builtIn = (method: string, priority: number): Capability => ({
    method,
    available: true,
    version: 'built-in',
    path: 'internal',
    priority,
    last_checked: checkedAt.toISOString(),
  });
  return {
    // datastore: ranged HTTP reads of the flat extent, resumable; ovf: the NFC export lease, a stream.
    capabilities: { datastore: builtIn('datastore', 1), ovf: builtIn('ovf', 2) },
    default_method: defaultMethod,
    timestamp: now(),
  };
}
