// Inventory paths from the parent chain. Folder and datacenter names/parents come
// from the same listing as the VMs (or one extra call), never one call per VM.
import type { ObjectProps } from './property-collector.js';
import { optMoref, text, type MoRef } from './xml.js';

interface Node {
  name: string;
  parent: MoRef | undefined;
  type: string;
}

export class InventoryTree {
  private readonly nodes = new Map<string, Node>();
  private readonly pathCache = new Map<string, string>();
  /** Network / portgroup names by moref value (for NIC backings that only give a key). */
  readonly networkNames = new Map<string, string>();

  /** Adds Folder/Datacenter (name, parent) and Network (name) objects; ignores others. */
  add(objects: ObjectProps[]): this {
    for (const o of objects) {
      const name = text(o.props.get('name'));
      if (o.obj.type === 'Folder' || o.obj.type === 'Datacenter') {
        this.nodes.set(o.obj.value, { name, parent: optMoref(o.props.get('parent')), type: o.obj.type });
      } else if (
        o.obj.type === 'Network' ||
        o.obj.type === 'DistributedVirtualPortgroup' ||
        o.obj.type === 'OpaqueNetwork'
      ) {
        this.networkNames.set(o.obj.value, name);
      }
    }
    return this;
  }

  /**
   * "/DC0/vm/sub/VM1" for an object named `name` whose parent is `parent`. The
   * root folder (no parent) is not part of inventory paths. Names are used as the
   * server sends them (vSphere already escapes "/" as %2f).
   */
  pathOf(name: string, parent: MoRef | undefined): string {
    return `${parent ? this.folderPath(parent.value) : ''}/${name}`;
  }

  /** Name of the first Datacenter above `parent`, or "" when there is none. */
  datacenterOf(parent: MoRef | undefined): string {
    let ref = parent?.value;
    for (let depth = 0; ref !== undefined && depth < 256; depth++) {
      const node = this.nodes.get(ref);
      if (!node) return '';
      if (node.type === 'Datacenter') return node.name;
      ref = node.parent?.value;
    }
    return '';
  }

  private folderPath(id: string): string {
    const cached = this.pathCache.get(id);
    if (cached !== undefined) return cached;
    const node = this.nodes.get(id);
    // Unknown (e.g. a vApp) or the root folder: the path starts here.
    let path = '';
    if (node?.parent) path = `${this.folderPath(node.parent.value)}/${node.name}`;
    this.pathCache.set(id, path);
    return path;
  }
}
