// vim25 XML on the wire: building request bodies and reading parsed responses.
// vSphere serves no usable WSDL to vcsim clients, so instead of a schema-driven
// SOAP library we keep two small, explicit halves:
//  - writing: request arguments are plain values; the few polymorphic ones carry
//    their xsi:type (`Typed`), managed object references their `type` attribute.
//  - reading: responses become plain objects (xml-reader.ts on the hot path; the
//    fast-xml-parser configuration below defines the shape and is its reference in
//    tests); the helpers below normalise what XML cannot say (a one-element array looks like a scalar,
//    ArrayOfX wraps its items in <X>, typed values carry xsi:type).
import { XMLParser } from 'fast-xml-parser';

/** A managed object reference: <_this type="VirtualMachine">vm-42</_this>. */
export class MoRef {
  constructor(
    readonly type: string,
    readonly value: string,
  ) {}
  toString(): string {
    return `${this.type}:${this.value}`;
  }
}

/** A data object that needs its concrete type on the wire (e.g. a TraversalSpec in selectSet). */
export class Typed {
  constructor(
    readonly xsiType: string,
    readonly fields: Record<string, SoapArg>,
  ) {}
}

export type SoapArg =
  string | number | boolean | MoRef | Typed | SoapArg[] | { [field: string]: SoapArg } | undefined;

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

/**
 * Serialises one named argument. Field order matters to vCenter (the schema uses
 * xsd:sequence), so callers list struct fields in schema order; arrays repeat the
 * element; undefined fields are left out.
 */
export function toXml(name: string, value: SoapArg): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => toXml(name, v)).join('');
  if (value instanceof MoRef)
    return `<${name} type="${escapeXml(value.type)}">${escapeXml(value.value)}</${name}>`;
  if (value instanceof Typed)
    return `<${name} xsi:type="${escapeXml(value.xsiType)}">${fieldsXml(value.fields)}</${name}>`;
  if (typeof value === 'object') return `<${name}>${fieldsXml(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function fieldsXml(fields: Record<string, SoapArg>): string {
  let out = '';
  for (const [k, v] of Object.entries(fields)) out += toXml(k, v);
  return out;
}

export function envelope(method: string, args: Record<string, SoapArg>): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
    `<soapenv:Body><${method} xmlns="urn:vim25">${fieldsXml(args)}</${method}></soapenv:Body></soapenv:Envelope>`
  );
}

// ---- reading ----------------------------------------------------------------------

/** A parsed element: text, or an object of children ('@_x' attributes, '#text' content). */
export type XmlNode = string | { [key: string]: unknown };

// Values stay strings (a VM called "007" must not become 7); names keep their
// surrounding spaces (vcsim's "Keyboard " label); attributes keep their prefixes so
// xsi:type and a moref's own `type` never collide.
export const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  removeNSPrefix: false,
  ignoreDeclaration: true,
  processEntities: true,
  htmlEntities: false,
});

export function asArray<T = unknown>(x: T | T[] | undefined | null): T[] {
  if (x === undefined || x === null || x === '') return [];
  return Array.isArray(x) ? x : [x];
}

export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Text content of a leaf element (with or without attributes). */
export function text(x: unknown): string {
  if (typeof x === 'string') return x;
  const t = isObject(x) ? x['#text'] : x;
  if (typeof t === 'string') return t;
  return typeof t === 'number' || typeof t === 'boolean' ? String(t) : '';
}

/** Optional text: undefined when the element is absent. */
export function optText(x: unknown): string | undefined {
  return x === undefined || x === null ? undefined : text(x);
}

export function num(x: unknown, fallback = 0): number {
  const s = text(x).trim();
  if (s === '') return fallback;
  const n = Number(s);
  return Number.isFinite(n) ? n : fallback;
}

export function bool(x: unknown): boolean {
  return text(x).trim() === 'true';
}

/** The xsi:type of an element, whatever prefix the server bound the XMLSchema-instance namespace to. */
export function xsiType(x: unknown): string | undefined {
  if (!isObject(x)) return undefined;
  for (const key of Object.keys(x)) {
    if (key.startsWith('@_') && key.endsWith(':type')) {
      const v = String(x[key]);
      const colon = v.indexOf(':');
      return colon >= 0 ? v.slice(colon + 1) : v; // "xsd:string" -> "string"
    }
  }
  return undefined;
}

export function moref(x: unknown): MoRef {
  if (!isObject(x)) throw new Error('expected a ManagedObjectReference');
  return new MoRef(String(x['@_type']), text(x));
}

export function optMoref(x: unknown): MoRef | undefined {
  return isObject(x) && typeof x['@_type'] === 'string' ? moref(x) : undefined;
}

/**
 * Items of a typed array value (<val xsi:type="ArrayOfVirtualDevice"><VirtualDevice ...>).
 * The item element is named after the array type without "ArrayOf"; a property that
 * holds an array directly (no wrapper) is returned as is.
 */
export function arrayItems(x: unknown): unknown[] {
  const type = xsiType(x);
  if (type?.startsWith('ArrayOf') && isObject(x)) {
    // ArrayOfManagedObjectReference -> <ManagedObjectReference>; primitives are
    // lower-case on the wire: ArrayOfString -> <string>, ArrayOfInt -> <int>.
    const item = type.slice('ArrayOf'.length);
    const lower = item.charAt(0).toLowerCase() + item.slice(1);
    return asArray(x[item] ?? x[lower]);
  }
  return asArray(x);
}

/** The first child element whose local name is `local` (any namespace prefix). */
export function childByLocalName(x: unknown, local: string): unknown {
  if (!isObject(x)) return undefined;
  for (const [key, value] of Object.entries(x)) {
    if (key === local || key.endsWith(`:${local}`)) return value;
  }
  return undefined;
}
