// The workflow bundle, built once in a short-lived child process and kept on disk.
//
// Bundling with webpack inside the worker process (Worker.create({ workflowsPath }))
// leaves webpack's and the TypeScript loader's heap in it, which V8 keeps as
// resident memory for the life of the daemon (over 100 MB). Instead a child
// process (workflow-bundle-main.ts) bundles and exits, and the worker loads the file.
//
// A bundle is reused only while every input is as it was when it was made, so a
// stale bundle is never loaded:
// - every file webpack read (sources, package.json files, node_modules code and
//   source maps): SHA-256 of the content it read; the bundler's own files too;
// - every path webpack looked for and did not find: still absent;
// - the listing of each directory holding a file read (a new file beside an
//   import, say errors.ts beside errors.js, could change what it resolves to);
// - for each directory above those, its node_modules (absent, a symlink and its
//   target, or its listing and that of its @scope folders), its package.json and
//   .swcrc: a new or moved package could change what a bare import resolves to.
// Anything else changed, and the bundle file must still hash to what was recorded.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childEnvironment } from '../core/child-env.js';

const FORMAT = 1;
/** Bundles no manifest names are removed once they are this old (another process may be loading one). */
const PRUNE_AFTER_MS = 60 * 60 * 1000;
const BUNDLE_NAME = /^workflows-[0-9a-f]{16}\.js$/;

/** file: content; dir: listing; modules: a node_modules candidate (absent, symlink or listing with @scopes). */
export type InputKind = 'file' | 'dir' | 'modules';

export interface BundleManifest {
  format: number;
  workflowsPath: string;
  /** File name of the bundle, beside the manifest. */
  bundle: string;
  bundleSha256: string;
  /** [kind, path, state]: the bundle is valid while each state is unchanged. */
  inputs: [InputKind, string, string][];
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function listing(dir: string): string {
  const entries = readdirSync(dir, { withFileTypes: true }).map((e) =>
    e.isSymbolicLink() ? `${e.name} -> ${readlinkSync(join(dir, e.name))}` : e.name,
  );
  return sha256(entries.sort().join('\n'));
}

/** The state of one input now; '-' when absent. */
export function inputState(kind: InputKind, path: string): string {
  try {
    switch (kind) {
      case 'file':
        return `file:${sha256(readFileSync(path))}`;
      case 'dir':
        return `dir:${listing(path)}`;
      case 'modules': {
        if (lstatSync(path).isSymbolicLink()) return `link:${readlinkSync(path)}`;
        const scopes = readdirSync(path)
          .filter((n) => n.startsWith('@'))
          .sort();
        return `dir:${sha256([listing(path), ...scopes.map((s) => `${s}:${listing(join(path, s))}`)].join('\n'))}`;
      }
    }
  } catch {
    return '-';
  }
}

/** The bundler's own code: a new SDK, webpack or loader makes a new bundle. */
export function bundlerFiles(): string[] {
  const fromWorker = createRequire(createRequire(import.meta.url).resolve('@temporalio/worker/package.json'));
  const files: string[] = [];
  for (const file of [
    '@temporalio/worker/package.json',
    '@temporalio/worker/lib/workflow/bundler.js',
    'webpack/package.json',
    'swc-loader/package.json',
    '@swc/core/package.json',
    'source-map-loader/package.json',
  ]) {
    try {
      files.push(fromWorker.resolve(file));
    } catch {
      // Not there to resolve: nothing to record.
    }
  }
  return files;
}

export function manifestPath(cacheDir: string, workflowsPath: string): string {
  return join(cacheDir, `workflows-${sha256(workflowsPath).slice(0, 16)}.json`);
}

/** The bundle's path when its manifest holds for the inputs as they are now, else undefined. */
export function validBundle(cacheDir: string, workflowsPath: string): string | undefined {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath(cacheDir, workflowsPath), 'utf8')) as BundleManifest;
  } catch {
    return undefined;
  }
  if (
    manifest.format !== FORMAT ||
    manifest.workflowsPath !== workflowsPath ||
    !Array.isArray(manifest.inputs)
  )
    return undefined;
  if (typeof manifest.bundle !== 'string' || !BUNDLE_NAME.test(manifest.bundle)) return undefined;
  const codePath = join(cacheDir, manifest.bundle);
  if (inputState('file', codePath) !== `file:${manifest.bundleSha256}`) return undefined;
  for (const [kind, path, state] of manifest.inputs) if (inputState(kind, path) !== state) return undefined;
  try {
    // Recently used: another process's pruning spares it.
    const now = new Date();
    utimesSync(codePath, now, now);
  } catch {
    // A data directory this process cannot write: the bundle is still the right one.
  }
  return codePath;
}

/** What webpack did while bundling, as workflow-bundle-main.ts saw it. */
export interface BundlerTrace {
  /** SHA-256 of each file's content as webpack read it; CHANGED when two reads differed. */
  contents: Map<string, string>;
  /** Its fileDependencies: the files it read and some directories it went through. */
  files: Iterable<string>;
  /** Its missingDependencies: paths it looked for (some of them directories it found). */
  lookedFor: Iterable<string>;
}

/** Never the state of anything: an input recorded so forces the next start to bundle again. */
export const CHANGED = 'changed-while-bundling';

/** What to record for a bundle made as `trace` says. */
export function bundleInputs(trace: BundlerTrace): [InputKind, string, string][] {
  const inputs = new Map<string, [InputKind, string, string]>();
  const add = (kind: InputKind, path: string, state = inputState(kind, path)) => {
    if (!inputs.has(`${kind}:${path}`)) inputs.set(`${kind}:${path}`, [kind, path, state]);
  };
  const isDir = (path: string) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  };
  const dirs = new Set<string>(); // listed: they hold inputs
  const passed = new Set<string>(); // not listed: their node_modules, package.json and .swcrc count
  // The content webpack read, not the content now: a file edited while it bundled
  // is recorded as it went into the bundle, so the next start sees the edit.
  // A file read but not on disk is the bundler's own entry point (in memory, made
  // from workflowsPath by bundler.js): recorded as absent, like any path not there.
  for (const [path, hash] of trace.contents) {
    if (inputState('file', path) === '-') add('file', path, '-');
    else {
      add('file', path, hash === CHANGED ? CHANGED : `file:${hash}`);
      dirs.add(dirname(path));
    }
  }
  for (const path of new Set([...trace.files, ...bundlerFiles()])) {
    if (isDir(path)) {
      passed.add(path);
      continue;
    }
    add('file', path);
    if (inputState('file', path) !== '-') dirs.add(dirname(path));
  }
  // Absent when webpack looked, whatever is there now (it also lists directories it went through).
  for (const path of trace.lookedFor) {
    if (isDir(path)) passed.add(path);
    else add('file', path, '-');
  }
  for (const dir of dirs) add('dir', dir);
  const ancestors = new Set<string>();
  for (const dir of [...dirs, ...passed]) {
    for (let d = dir; !ancestors.has(d); d = dirname(d)) {
      ancestors.add(d);
      if (dirname(d) === d) break;
    }
  }
  for (const d of ancestors) {
    add('modules', join(d, 'node_modules'));
    add('file', join(d, 'package.json'));
    // swc-loader lets @swc/core look for a .swcrc, which webpack does not see.
    add('file', join(d, '.swcrc'));
  }
  return [...inputs.values()].sort((a, b) =>
    a[1] === b[1] ? a[0].localeCompare(b[0]) : a[1].localeCompare(b[1]),
  );
}

/**
 * Writes the bundle and its manifest (each through a temporary file and a rename:
 * a reader sees all or nothing), then removes old bundles no manifest names.
 */
export function storeBundle(
  cacheDir: string,
  workflowsPath: string,
  code: string,
  inputs: [InputKind, string, string][],
): string {
  mkdirSync(cacheDir, { recursive: true });
  const bundleSha256 = sha256(code);
  const bundle = `workflows-${bundleSha256.slice(0, 16)}.js`;
  const manifest: BundleManifest = { format: FORMAT, workflowsPath, bundle, bundleSha256, inputs };
  const write = (target: string, text: string) => {
    const tmp = join(cacheDir, `.tmp-${randomBytes(6).toString('hex')}`);
    writeFileSync(tmp, text);
    renameSync(tmp, target);
  };
  write(join(cacheDir, bundle), code);
  write(manifestPath(cacheDir, workflowsPath), `${JSON.stringify(manifest, null, 1)}\n`);
  pruneBundles(cacheDir);
  return join(cacheDir, bundle);
}

function pruneBundles(cacheDir: string): void {
  const names = readdirSync(cacheDir);
  const named = new Set<string>();
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    try {
      named.add((JSON.parse(readFileSync(join(cacheDir, name), 'utf8')) as BundleManifest).bundle);
    } catch {
      // Not a manifest: it names nothing.
    }
  }
  for (const name of names) {
    if (named.has(name) || !(BUNDLE_NAME.test(name) || name.startsWith('.tmp-'))) continue;
    try {
      if (Date.now() - statSync(join(cacheDir, name)).mtimeMs > PRUNE_AFTER_MS)
        unlinkSync(join(cacheDir, name));
    } catch {
      // Removed by another process meanwhile.
    }
  }
}

/** How to run workflow-bundle-main: the compiled JS as it is, the TypeScript source through tsx. */
function childArgs(): string[] {
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts')) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return [
      '--import',
      pathToFileURL(tsx).href,
      self.replace(/workflow-bundle\.ts$/, 'workflow-bundle-main.ts'),
    ];
  }
  return [self.replace(/workflow-bundle\.js$/, 'workflow-bundle-main.js')];
}

/**
 * A bundle of `workflowsPath`: the one in `cacheDir` when its inputs are
 * unchanged, else a new one made there by a child process.
 */
export async function cachedWorkflowBundle(options: {
  cacheDir: string;
  workflowsPath: string;
  log?: (line: string) => void;
}): Promise<{ codePath: string }> {
  const { cacheDir, workflowsPath } = options;
  const reused = validBundle(cacheDir, workflowsPath);
  if (reused) return { codePath: reused };
  const started = performance.now();
  let target = cacheDir;
  try {
    mkdirSync(cacheDir, { recursive: true });
    accessSync(cacheDir, constants.W_OK);
  } catch (err) {
    // Not ours to write (a read-only data directory): a bundle for this run only.
    target = mkdtempSync(join(tmpdir(), 'hypersdk-workflow-bundle-'));
    options.log?.(
      `cannot keep the workflow bundle in ${cacheDir} (${(err as Error).message}); bundling into ${target}`,
    );
  }
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  // cwd: webpack names modules relative to it, and the same inputs should make the same bundle.
  const child = spawn(process.execPath, [...childArgs(), workflowsPath, target], {
    cwd: dirname(workflowsPath),
    // Never the worker's secrets (GOVC_PASSWORD, the secrets key...): the bundler needs none.
    env: childEnvironment({ NODE_OPTIONS: process.env.NODE_OPTIONS }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => stdout.push(d));
  child.stderr.on('data', (d: Buffer) => stderr.push(d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  const out = Buffer.concat(stdout).toString().trim();
  if (code !== 0 || !out) {
    const err = Buffer.concat(stderr).toString().trim().split('\n').slice(-30).join('\n');
    throw new Error(`bundling the workflow code failed (exit ${code ?? 'by signal'}):\n${err}`);
  }
  const { codePath } = JSON.parse(out.split('\n').pop()!) as { codePath: string };
  options.log?.(
    `workflow bundle built in ${((performance.now() - started) / 1000).toFixed(1)} s: ${codePath}`,
  );
  return { codePath };
}
