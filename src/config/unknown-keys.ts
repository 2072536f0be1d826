// Finds keys the schema does not know (typos such as `daemon.adress`), so the
// loader can warn about them instead of silently ignoring them.
import { z } from 'zod';

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodNullable) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

export function findUnknownKeys(schema: z.ZodType, value: unknown, path: string[] = []): string[][] {
  const inner = unwrap(schema);
  if (value === null || typeof value !== 'object') return [];
  if (inner instanceof z.ZodObject && !Array.isArray(value)) {
    const shape = inner.shape as Record<string, z.ZodType>;
    const found: string[][] = [];
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const childSchema = shape[key];
      if (!childSchema) found.push([...path, key]);
      else found.push(...findUnknownKeys(childSchema, child, [...path, key]));
    }
    return found;
  }
  if (inner instanceof z.ZodRecord && !Array.isArray(value)) {
    const valueSchema = inner._zod.def.valueType as z.ZodType;
    return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) =>
      findUnknownKeys(valueSchema, child, [...path, key]),
    );
  }
  return [];
}
