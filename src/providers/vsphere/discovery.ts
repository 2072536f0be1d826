// Discovery: every VM with its description in one ContainerView and one paged
// RetrievePropertiesEx. The same view also yields folders, datacenters and networks,
// so inventory paths and network names cost no extra round trip.
import type { VmDescription } from '../../core/vm-description.js';
import { InventoryTree } from './inventory.js';
import { propertySpecs, retrieveAll, viewObjectSpec, type PropertySpec } from './property-collector.js';
import type { VsphereSession } from './session.js';
import { VM_PROPERTIES, toVmDescription } from './vm.js';
import { moref, text, type MoRef } from './xml.js';

const TREE_SPECS: PropertySpec[] = [
  { type: 'Folder', pathSet: ['name', 'parent'] },
  { type: 'Datacenter', pathSet: ['name', 'parent'] },
  { type: 'Network', pathSet: ['name'] },
];

/** Runs `fn` with a recursive ContainerView of `types` under the root folder, destroying it afterwards. */
export async function withContainerView<T>(
  session: VsphereSession,
  types: string[],
  fn: (view: MoRef) => Promise<T>,
): Promise<T> {
  const rv = await session.client.call('CreateContainerView', {
    _this: session.content.viewManager,
    container: session.content.rootFolder,
    type: types,
    recursive: true,
  });
  const view = moref(rv);
  try {
    return await fn(view);
  } finally {
    await session.client.call('DestroyView', { _this: view }).catch(() => undefined);
  }
}

/** Every VM, fully described. */
export async function discoverVms(session: VsphereSession): Promise<VmDescription[]> {
  const objects = await withContainerView(
    session,
    ['VirtualMachine', 'Folder', 'Datacenter', 'Network'],
    (view) =>
      retrieveAll(
        session.client,
        session.content.propertyCollector,
        propertySpecs([{ type: 'VirtualMachine', pathSet: VM_PROPERTIES }, ...TREE_SPECS]),
        [viewObjectSpec(view)],
      ),
  );
  const tree = new InventoryTree().add(objects);
  return objects
    .filter((o) => o.obj.type === 'VirtualMachine')
    .map((o) => toVmDescription(o.obj.value, o.props, tree));
}

/** Folders, datacenters and networks: what paths and NIC network names need (one call). */
export async function loadInventoryTree(session: VsphereSession): Promise<InventoryTree> {
  const objects = await withContainerView(session, ['Folder', 'Datacenter', 'Network'], (view) =>
    retrieveAll(session.client, session.content.propertyCollector, propertySpecs(TREE_SPECS), [
      viewObjectSpec(view),
    ]),
  );
  return new InventoryTree().add(objects);
}

/** Names and morefs of every VM (for name lookup and close-match suggestions). */
export async function listVmNames(session: VsphereSession): Promise<{ id: string; name: string }[]> {
  const objects = await withContainerView(session, ['VirtualMachine'], (view) =>
    retrieveAll(
      session.client,
      session.content.propertyCollector,
      propertySpecs([{ type: 'VirtualMachine', pathSet: ['name'] }]),
      [viewObjectSpec(view)],
    ),
  );
  return objects.map((o) => ({ id: o.obj.value, name: text(o.props.get('name')) }));
}
