import type { VsphereProfile } from './types.js';

/**
 * The profile called `name`, if configured. Own properties only: a client-given
 * name such as "constructor" or "__proto__" must not find Object.prototype's members.
 */
export function findProfile(profiles: Record<string, VsphereProfile>, name: string): VsphereProfile | undefined {
  return Object.hasOwn(profiles, name) ? profiles[name] : undefined;
}
