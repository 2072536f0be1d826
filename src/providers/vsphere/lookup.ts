// Finding a VM from what a user typed: inventory path, name, managed object id or
// UUID (in that order). A miss names the closest VM names, so a typo is obvious.
import { ErrorType } from '../../core/errors.js';
import { listVmNames } from './discovery.js';
import { failure } from './faults.js';
import type { VsphereSession } from './session.js';
import { optMoref } from './xml.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const MOREF = /^(vm-\d+|\d+)$/; // vCenter "vm-42", ESXi "42"

/** Resolves a VmRef to a VirtualMachine moref value (e.g. "vm-42"). */
export async function resolveVm(session: VsphereSession, ref: string): Promise<string> {
  const query = ref.trim();
  if (query.includes('/')) {
    const byPath = await findByInventoryPath(session, query);
    if (byPath) return byPath;
  }
  const all = await listVmNames(session);
  const byName = all.find((vm) => vm.name === query);
  if (byName) return byName.id;
  if (MOREF.test(query)) {
    const byId = all.find((vm) => vm.id === query);
    if (byId) return byId.id;
  }
  if (UUID.test(query)) {
    const byUuid = (await findByUuid(session, query, false)) ?? (await findByUuid(session, query, true));
    if (byUuid) return byUuid;
  }
  const matches = closeMatches(
    query,
    all.map((vm) => vm.name),
  );
  throw failure(
    ErrorType.VmNotFound,
    `VM "${ref}" not found (tried inventory path, name, managed object id and UUID)` +
      (matches.length ? `; close matches: ${matches.join(', ')}` : ''),
    true,
  );
}

async function findByInventoryPath(session: VsphereSession, path: string): Promise<string | undefined> {
  const rv = await session.client.call('FindByInventoryPath', {
    _this: session.content.searchIndex,
    inventoryPath: path.replace(/^\/+/, ''),
  });
  const ref = optMoref(rv);
  return ref?.type === 'VirtualMachine' ? ref.value : undefined;
}

async function findByUuid(
  session: VsphereSession,
  uuid: string,
  instanceUuid: boolean,
): Promise<string | undefined> {
  const rv = await session.client.call('FindByUuid', {
    _this: session.content.searchIndex,
    uuid,
    vmSearch: true,
    instanceUuid,
  });
  const ref = optMoref(rv);
  return ref?.type === 'VirtualMachine' ? ref.value : undefined;
}

/** Up to `limit` names closest to `query` (edit distance, substring matches first). */
export function closeMatches(query: string, names: string[], limit = 3): string[] {
  const q = query.toLowerCase().split('/').pop() ?? '';
  const scored = names.map((name) => {
    const n = name.toLowerCase();
    const distance = editDistance(q, n);
    const bonus = n.includes(q) || q.includes(n) ? -1000 : 0;
    return { name, score: distance + bonus, distance };
  });
  const threshold = Math.max(3, Math.floor(q.length / 2));
  return scored
    .filter((s) => s.score < 0 || s.distance <= threshold)
    .sort((a, b) => a.score - b.score || a.name.localeCompare(b.name))
    .slice(0, limit)
    .map((s) => s.name);
}

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
