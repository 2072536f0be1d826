// Child process of cachedWorkflowBundle (workflow-bundle.ts): bundles the workflow
// code with the SDK's bundler, records what webpack read (hashing each file as it
// is read) and looked for, stores bundle and manifest in the cache directory,
// prints {"codePath": …} as its last line and exits, taking webpack's memory with it.
//
//   node workflow-bundle-main.js <workflowsPath> <cacheDir>
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { bundleInputs, CHANGED, storeBundle } from './workflow-bundle.js';

type Callback = (err: unknown, data?: unknown) => void;
interface InputFileSystem {
  readFile(...args: unknown[]): void;
}
interface Compilation {
  fileDependencies: Iterable<string>;
  missingDependencies: Iterable<string>;
  contextDependencies: Iterable<string>;
}
interface Tap<T> {
  tap(name: string, fn: (arg: T) => void): void;
}
interface Compiler {
  inputFileSystem: InputFileSystem | null;
  hooks: { beforeRun: Tap<Compiler>; done: Tap<{ compilation: Compilation }> };
}

const NAME = 'hypersdk-bundle-inputs';

async function main(): Promise<void> {
  const [workflowsPath, cacheDir] = process.argv.slice(2);
  if (!workflowsPath || !cacheDir) throw new Error('usage: workflow-bundle-main <workflowsPath> <cacheDir>');
  const contents = new Map<string, string>();
  const files = new Set<string>();
  const lookedFor = new Set<string>();
  let directoryListings = 0;
  const recordInputs = {
    apply(compiler: Compiler) {
      // The SDK's bundler sets its file system after the plugins are applied: wrap it when the run starts.
      compiler.hooks.beforeRun.tap(NAME, ({ inputFileSystem: fs }) => {
        if (!fs) return; // then no read is seen, and main() refuses to record
        const readFile = fs.readFile.bind(fs);
        fs.readFile = (...args: unknown[]) => {
          const callback = args.pop() as Callback;
          readFile(...args, (err: unknown, data?: unknown) => {
            const path = args[0];
            if (!err && typeof path === 'string' && (typeof data === 'string' || Buffer.isBuffer(data))) {
              const hash = createHash('sha256').update(data).digest('hex');
              const before = contents.get(path);
              contents.set(path, before === undefined || before === hash ? hash : CHANGED);
            }
            callback(err, data);
          });
        };
      });
      compiler.hooks.done.tap(NAME, ({ compilation }) => {
        for (const f of compilation.fileDependencies) files.add(f);
        for (const f of compilation.missingDependencies) lookedFor.add(f);
        directoryListings += [...compilation.contextDependencies].length;
      });
    },
  };
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    logger: new DefaultLogger('WARN', (entry) => process.stderr.write(`${entry.level} ${entry.message}\n`)),
    webpackConfigHook: (config) => ({ ...config, plugins: [...(config.plugins ?? []), recordInputs] }),
  });
  // A directory listing (require.context) is an input the manifest cannot check: refuse rather than risk a stale bundle.
  if (directoryListings)
    throw new Error(
      'the workflow code depends on a directory listing (require.context), which the bundle cache cannot check',
    );
  if (contents.size === 0)
    throw new Error('saw webpack read no file: cannot record the inputs of the bundle');
  const codePath = storeBundle(cacheDir, workflowsPath, code, bundleInputs({ contents, files, lookedFor }));
  process.stdout.write(`${JSON.stringify({ codePath })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
