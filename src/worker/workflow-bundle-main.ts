// Child process of cachedWorkflowBundle (workflow-bundle.ts): bundles the workflow
// code with the SDK's bundler, records every input webpack read or looked for,
// stores bundle and manifest in the cache directory, prints {"codePath": …}
// and exits, taking webpack's memory with it.
//
//   node workflow-bundle-main.js <workflowsPath> <cacheDir>
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { bundleInputs, storeBundle } from './workflow-bundle.js';

interface Compilation {
  fileDependencies: Iterable<string>;
  missingDependencies: Iterable<string>;
  contextDependencies: Iterable<string>;
}
interface Compiler {
  hooks: { done: { tap(name: string, fn: (stats: { compilation: Compilation }) => void): void } };
}

async function main(): Promise<void> {
  const [workflowsPath, cacheDir] = process.argv.slice(2);
  if (!workflowsPath || !cacheDir) throw new Error('usage: workflow-bundle-main <workflowsPath> <cacheDir>');
  const read = new Set<string>();
  const lookedFor = new Set<string>();
  const recordInputs = {
    apply(compiler: Compiler) {
      compiler.hooks.done.tap('hypersdk-bundle-inputs', ({ compilation }) => {
        for (const f of compilation.fileDependencies) read.add(f);
        for (const f of compilation.missingDependencies) lookedFor.add(f);
        // A directory listing (require.context) is an input we do not track: refuse rather than risk a stale bundle.
        if ([...compilation.contextDependencies].length)
          throw new Error(
            'the workflow code depends on a directory listing (require.context), which the bundle cache cannot check',
          );
      });
    },
  };
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    logger: new DefaultLogger('WARN', (entry) => process.stderr.write(`${entry.level} ${entry.message}\n`)),
    webpackConfigHook: (config) => ({ ...config, plugins: [...(config.plugins ?? []), recordInputs] }),
  });
  process.stdout.write(
    `${JSON.stringify({ codePath: storeBundle(cacheDir, workflowsPath, code, bundleInputs(read, lookedFor)) })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
