import { describe, expect, it } from 'vitest';
import { cancelErrors } from './commands/cancel.js';

describe('hyperctl cancel', () => {
  it("reads the original's errors map (job id -> reason), an absent one, and the older list", () => {
    expect(cancelErrors({ cancelled: [], failed: ['a', 'b'], errors: { a: 'job a is already completed' } })).toEqual(['job a is already completed', 'b']);
    expect(cancelErrors({ cancelled: [], failed: ['c'], errors: { c: 'not found' } })).toEqual(['c: not found']);
    expect(cancelErrors({ cancelled: ['x'], failed: [] })).toEqual([]);
    expect(cancelErrors({ cancelled: [], failed: ['c'] })).toEqual(['c']);
    expect(cancelErrors({ cancelled: [], failed: ['d'], errors: ['d: not found'] })).toEqual(['d: not found']);
  });
});
