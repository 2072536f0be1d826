import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { folderGraph, importCycles, importGraph } from './check-import-cycles.js';

let root: string | undefined;

afterEach(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

/** A source tree from { 'path.ts': 'text' }; returns its root. */
function tree(files: Record<string, string>): string {
  root = mkdtempSync(join(tmpdir(), 'import-cycles-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const names = (cycles: string[][], from: string): string[][] => cycles.map((cycle) => cycle.map((file) => file.slice(from.length + 1)));

describe('import cycles', () => {
  it('finds files that import each other, type-only imports, re-exports and import() included', () => {
    const src = tree({
      'a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'b.ts': "import type { C } from './c.js';\nexport const b = 1 as C;\n",
      'c.ts': "export type { A } from './d.js';\nexport type C = number;\n",
      'd.ts': "export type A = typeof import('./a.js');\n",
      'self.ts': "export * from './self.js';\n",
      'alone.ts': "import { a } from './a.js';\nexport const alone = a;\n",
    });
    const cycles = names(importCycles(importGraph([src])), src).sort((x, y) => x.length - y.length);
    expect(cycles).toEqual([['self.ts'], ['a.ts', 'b.ts', 'c.ts', 'd.ts']]);
  });

  it('finds none in a tree whose imports point one way', () => {
    const src = tree({
      'core/errors.ts': 'export const E = 1;\n',
      'jobs/store.ts': "import { E } from '../core/errors.js';\nexport const s = E;\n",
      'api/app.ts': "import { s } from '../jobs/store.js';\nimport { E } from '../core/errors.js';\nexport const app = s + E;\n",
    });
    const files = importGraph([src]);
    expect(importCycles(files)).toEqual([]);
    expect(importCycles(folderGraph(files, src))).toEqual([]);
  });

  it('finds folders that import each other though no file does, and leaves tests out of it', () => {
    const src = tree({
      'export/ovf.ts': "import type { Vm } from '../providers/types.js';\nexport type Ovf = Vm;\n",
      'providers/types.ts': 'export type Vm = string;\n',
      'providers/soap.ts': "import { E } from '../export/errors.js';\nexport const soap = E;\n",
      'export/errors.ts': 'export const E = 1;\n',
      'core/x.ts': 'export const x = 1;\n',
      'core/x.test.ts': "import { s } from '../jobs/y.js';\nexport const t = s;\n",
      'jobs/y.ts': "import { x } from '../core/x.js';\nexport const s = x;\n",
    });
    const files = importGraph([src]);
    expect(importCycles(files)).toEqual([]);
    expect(importCycles(folderGraph(files, src))).toEqual([['export', 'providers']]);
  });
});
