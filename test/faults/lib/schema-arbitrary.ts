// fast-check arbitraries from the JSON schemas in /openapi.json (the subset zod
// emits: $ref into `definitions`, anyOf, enum, object, array, string with
// pattern/length, integer/number with bounds, boolean), with "chaos": at every
// node, now and then, a value of the wrong type, a huge value, odd unicode, null,
// or extra unknown keys. So one arbitrary yields valid bodies, almost-valid ones
// and garbage in the shape of the real thing.
import fc from 'fast-check';

export interface JsonSchema {
  $ref?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
  definitions?: Record<string, JsonSchema>;
}

/** Values no schema asked for: wrong types, extremes, odd text. */
export const wildValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -0, '', ' ', '\u0000', '..', '../../etc/passwd', '/', 'NaN', 'Infinity'),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'x'.repeat(n)),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);

export function arbitraryFromSchema(root: JsonSchema, chaos = 0.1): fc.Arbitrary<unknown> {
  const weightWild = Math.max(1, Math.round(chaos * 100));
  const weightTyped = Math.max(1, 100 - weightWild);

  const build = (schema: JsonSchema, depth: number): fc.Arbitrary<unknown> => {
    const typed = buildTyped(schema, depth);
    if (depth > 6) return typed;
    return fc.oneof({ weight: weightTyped, arbitrary: typed }, { weight: weightWild, arbitrary: wildValue });
  };

  const buildTyped = (schema: JsonSchema, depth: number): fc.Arbitrary<unknown> => {
    if (schema.$ref) {
      const name = schema.$ref.replace(/^#\/(definitions|\$defs)\//, '');
      const target = root.definitions?.[name];
      if (!target || depth > 8) return wildValue;
      return build(target, depth + 1);
    }
    const alternatives = schema.anyOf ?? schema.oneOf;
    if (alternatives) return fc.oneof(...alternatives.map((s) => build(s, depth + 1)));
    if (schema.enum) return fc.constantFrom(...schema.enum);
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    switch (type) {
      case 'string': {
        const bounded = { minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 48, 300) };
        const options: fc.Arbitrary<string>[] = [fc.string(bounded), fc.string({ ...bounded, unit: 'grapheme' })];
        if (schema.pattern) options.push(fc.stringMatching(new RegExp(schema.pattern)));
        return fc.oneof(...options);
      }
      case 'integer':
        return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
      case 'number':
        return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true });
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(schema.items ? build(schema.items, depth + 1) : wildValue, { maxLength: 4 });
      case 'object': {
        const props = schema.properties ?? {};
        const record = fc.record(
          Object.fromEntries(Object.entries(props).map(([k, s]) => [k, build(s, depth + 1)])),
          { requiredKeys: (schema.required ?? []).filter((k) => k in props) },
        );
        // Unknown keys too: real clients send fields the API does not use.
        return fc
          .tuple(record, fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), wildValue, { maxKeys: 2 }), fc.boolean())
          .map(([known, extra, withExtra]) => (withExtra ? { ...extra, ...known } : known));
      }
      default:
        return wildValue;
    }
  };

  return build(root, 0);
}
