// Remembers where each configuration value came from (a line of the YAML file, a
// legacy flat key, or an environment variable) so that a validation error can name
// what the user has to edit.
import { isMap, isNode, isScalar, type Document, type LineCounter } from 'yaml';

export type Origin = { kind: 'env'; name: string } | { kind: 'file'; key: string; line?: number } | { kind: 'default' };

export class OriginMap {
  private readonly env = new Map<string, string>();
  private readonly legacy = new Map<string, string[]>();

  constructor(
    private readonly doc: Document | undefined,
    private readonly lines: LineCounter | undefined,
    readonly fileName: string | undefined,
  ) {}

  setEnv(path: readonly (string | number)[], name: string): void {
    this.env.set(path.join('.'), name);
  }

  /** A structured path whose value came from a legacy flat key of the file. */
  setLegacy(path: readonly (string | number)[], legacyPath: string[]): void {
    this.legacy.set(path.join('.'), legacyPath);
  }

  origin(path: readonly PropertyKey[]): Origin {
    const keys = path.map(String);
    // An environment variable set at this path or at a parent wins.
    for (let n = keys.length; n > 0; n--) {
      const name = this.env.get(keys.slice(0, n).join('.'));
      if (name) return { kind: 'env', name };
    }
    for (let n = keys.length; n > 0; n--) {
      const legacy = this.legacy.get(keys.slice(0, n).join('.'));
      if (legacy) return { kind: 'file', key: legacy.join('.'), line: this.lineOf(legacy) };
    }
    if (!this.doc) return { kind: 'default' };
    return { kind: 'file', key: keys.join('.'), line: this.lineOf(keys) };
  }

  /** Line (1-based) of the key of the deepest entry on `path` that exists in the file. */
  lineOf(path: readonly string[]): number | undefined {
    if (!this.doc || !this.lines) return undefined;
    for (let n = path.length; n > 0; n--) {
      // The key's line, not the value's: a nested mapping starts on the next line.
      const parent: unknown = n > 1 ? this.doc.getIn(path.slice(0, n - 1), true) : this.doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === path[n - 1]);
        if (pair && isScalar(pair.key) && pair.key.range) return this.lines.linePos(pair.key.range[0]).line;
      }
      const node: unknown = this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  /** The text a scalar at `path` was written as in the file (0123 for a YAML number 123), if it is one. */
  scalarSource(path: readonly string[]): string | undefined {
    const node: unknown = this.doc?.getIn(path, true);
    return isScalar(node) && typeof node.source === 'string' ? node.source : undefined;
  }

  describe(path: readonly PropertyKey[]): string {
    const origin = this.origin(path);
    const key = path.map(String).join('.') || '(root)';
    if (origin.kind === 'env') return `${origin.name} (environment, ${key})`;
    if (origin.kind === 'file') {
      const where = [this.fileName, origin.line !== undefined ? `line ${origin.line}` : undefined].filter(Boolean).join(' ');
      return where ? `${origin.key} (${where})` : origin.key;
    }
    return key;
  }
}
