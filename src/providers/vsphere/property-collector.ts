// PropertyCollector helpers: RetrievePropertiesEx with paging, and the result shape
// (ObjectContent -> { obj, props }) with property values left as parsed XML for the
// typed converters (vm.ts, lease.ts) to read.
import type { SoapClient } from './soap-client.js';
import type { MoRef } from './xml.js';
import { asArray, isObject, moref, text, Typed, type SoapArg } from './xml.js';

export interface ObjectProps {
  obj: MoRef;
  /** Property path -> parsed <val> (absent when the server did not set it). */
  props: Map<string, unknown>;
}

export interface PropertySpec {
  type: string;
  pathSet: string[];
}

/** Pages per listing; a bound on the loop, far above any real inventory (MAX_PAGES * pageSize objects). */
const MAX_PAGES = 100_000;

/** Objects per page. Large pages mean few round trips; vCenter caps it anyway. */
export const DEFAULT_PAGE_SIZE = 1000;

export function propertySpecs(specs: PropertySpec[]): SoapArg[] {
  return specs.map((s) => ({ type: s.type, all: false, pathSet: s.pathSet }));
}

/** ObjectSpec for "every object in this ContainerView". */
export function viewObjectSpec(view: MoRef): SoapArg {
  return {
    obj: view,
    skip: true,
    selectSet: new Typed('TraversalSpec', {
      name: 'traverseView',
      type: 'ContainerView',
      path: 'view',
      skip: false,
    }),
  };
}

/**
 * RetrievePropertiesEx + ContinueRetrievePropertiesEx until the token runs out.
 * The continuation token is read with a cheap scan of the raw XML and the next page
 * is requested before the current one is parsed, so server work and our parsing overlap.
 */
export async function retrieveAll(
  client: SoapClient,
  collector: MoRef,
  propSet: SoapArg[],
  objectSet: SoapArg[],
  pageSize = DEFAULT_PAGE_SIZE,
): Promise<ObjectProps[]> {
  const out: ObjectProps[] = [];
  let xml = await client.callText('RetrievePropertiesEx', {
    _this: collector,
    specSet: { propSet, objectSet },
    options: { maxObjects: pageSize },
  });
  let method = 'RetrievePropertiesEx';
  for (let page = 0; page < MAX_PAGES; page++) {
    const token =
      /<token>([^<]+)<\/token>/.exec(xml.slice(-512))?.[1] ?? /<token>([^<]+)<\/token>/.exec(xml)?.[1];
    const next = token
      ? client.callText('ContinueRetrievePropertiesEx', { _this: collector, token })
      : undefined;
    // Don't leave an unobserved rejection if parsing this page throws first.
    next?.catch(() => undefined);
    const result = client.parse(method, xml);
    if (isObject(result)) out.push(...objectContents(result.objects));
    if (!next) return out;
    xml = await next;
    method = 'ContinueRetrievePropertiesEx';
  }
  throw new Error(`property collector returned more than ${MAX_PAGES} pages`);
}

/** Properties of one object (RetrievePropertiesEx on a single ObjectSpec). */
export async function retrieveOne(
  client: SoapClient,
  collector: MoRef,
  obj: MoRef,
  pathSet: string[],
): Promise<Map<string, unknown>> {
  const result = await client.call('RetrievePropertiesEx', {
    _this: collector,
    specSet: { propSet: [{ type: obj.type, all: false, pathSet }], objectSet: [{ obj, skip: false }] },
    options: {},
  });
  const first = isObject(result) ? objectContents(result.objects)[0] : undefined;
  return first?.props ?? new Map();
}

export function objectContents(objects: unknown): ObjectProps[] {
  return asArray(objects).map((o) => {
    const node = isObject(o) ? o : {};
    const props = new Map<string, unknown>();
    for (const p of asArray(node.propSet)) {
      if (isObject(p)) props.set(text(p.name), p.val);
    }
    return { obj: moref(node.obj), props };
  });
}
