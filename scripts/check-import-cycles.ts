// Fails when the modules under src/ import each other in a circle, file by file,
// or when the folders of src/ do (one file of src/a/ importing src/b/ while a file
// of src/b/ imports src/a/, directly or round a longer circle): the folders are
// floors and the dependencies must point one way. Type-only imports count too: a
// cycle of types is still code that cannot be understood or moved piece by piece.
// Tests are left out of the folder check only: a test may use a helper from above.
//
// Uses the TypeScript compiler that the project already has to read each file's
// imports and resolve them exactly as tsc does (NodeNext, ".js" naming ".ts"),
// instead of a separate dependency-graph package with its own resolver.
//
//   npx tsx scripts/check-import-cycles.ts [root]   (default: src)
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const repoRoot = resolve(import.meta.dirname, '..');

export type ImportGraph = Map<string, string[]>;

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every .ts file under the roots, with the files under the roots it imports (static, dynamic and re-exports). */
export function importGraph(roots: string[]): ImportGraph {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
  const files = roots.flatMap((root) => sourceFiles(resolve(root)));
  const inScope = new Set(files);
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = new Set<string>();
    for (const { fileName: specifier } of importedFiles) {
      const resolved = ts.resolveModuleName(specifier, file, options, ts.sys).resolvedModule?.resolvedFileName;
      if (resolved !== undefined && inScope.has(resolved)) targets.add(resolved);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/**
 * The strongly connected components with more than one file, or one file that
 * imports itself (Tarjan's algorithm, iterative so deep chains cannot overflow the stack).
 */
export function importCycles(graph: ImportGraph): string[][] {
  let nextIndex = 0;
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];

  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: { file: string; next: number }[] = [{ file: start, next: 0 }];
    index.set(start, nextIndex);
    lowLink.set(start, nextIndex++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const targets = graph.get(frame.file) ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next++]!;
        if (!index.has(target)) {
          index.set(target, nextIndex);
          lowLink.set(target, nextIndex++);
          stack.push(target);
          onStack.add(target);
          work.push({ file: target, next: 0 });
        } else if (onStack.has(target)) {
          lowLink.set(frame.file, Math.min(lowLink.get(frame.file)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) lowLink.set(parent.file, Math.min(lowLink.get(parent.file)!, lowLink.get(frame.file)!));
      if (lowLink.get(frame.file) !== index.get(frame.file)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.file);
      if (component.length > 1 || targets.includes(frame.file)) cycles.push(component.sort());
    }
  }
  return cycles;
}

/**
 * The graph of the top-level folders under `root` (files directly in `root` are the
 * folder "."), from the files that are not tests.
 */
export function folderGraph(graph: ImportGraph, root: string): ImportGraph {
  const folderOf = (file: string): string => {
    const parts = relative(root, file).split(sep);
    return parts.length > 1 ? parts[0]! : '.';
  };
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of graph) {
    if (file.endsWith('.test.ts')) continue;
    const from = folderOf(file);
    const edges = folders.get(from) ?? new Set<string>();
    folders.set(from, edges);
    for (const target of targets) if (folderOf(target) !== from) edges.add(folderOf(target));
  }
  return new Map([...folders].map(([folder, edges]) => [folder, [...edges].sort()]));
}

function report(kind: string, cycles: string[][], graph: ImportGraph, name: (node: string) => string): void {
  for (const cycle of cycles) {
    console.error(`import cycle among ${cycle.length} ${kind}:`);
    for (const node of cycle) {
      const inCycle = (graph.get(node) ?? []).filter((target) => cycle.includes(target));
      console.error(`  ${name(node)} -> ${inCycle.map(name).join(', ')}`);
    }
  }
}

function main(): void {
  const root = resolve(process.argv[2] ?? join(repoRoot, 'src'));
  const files = importGraph([root]);
  const folders = folderGraph(files, root);
  const fileCycles = importCycles(files);
  const folderCycles = importCycles(folders);
  report('files', fileCycles, files, (file) => relative(repoRoot, file));
  report('folders', folderCycles, folders, (folder) => `${relative(repoRoot, join(root, folder))}/`);
  if (fileCycles.length + folderCycles.length > 0) {
    process.exitCode = 1;
    return;
  }
  console.log(`import cycles: none among ${files.size} files and ${folders.size} folders of ${relative(repoRoot, root) || '.'}/`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) main();
