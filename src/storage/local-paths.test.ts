import { describe, expect, it } from 'vitest';
import { isInside, validateRelativeName } from './local-paths.js';

describe('validateRelativeName', () => {
  it('accepts plain relative names and subdirectories', () => {
    expect(validateRelativeName('vm-disk-0.vmdk')).toEqual(['vm-disk-0.vmdk']);
    expect(validateRelativeName('vm/vm.ovf')).toEqual(['vm', 'vm.ovf']);
  });
  it.each(['', '/abs', '../up', 'a/../b', 'a/./b', '.partial', 'a/.x', 'a//b', 'nul\0', '\\\\server\\share'])(
    'rejects %j',
    (name) => {
      expect(() => validateRelativeName(name)).toThrow(/rejected/);
    },
  );
});

describe('isInside', () => {
  it('is true for the root and below, false elsewhere', () => {
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/c/d')).toBe(true);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a')).toBe(false);
  });
});
