// Shared by the bin/ launchers: runs the compiled CLI when `npm run build` has
// produced it, otherwise the TypeScript source through tsx, so a fresh clone
// works without a build. The CLI's run function resolves to an exit code; only
// this launcher turns it into the process's exit status.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * @param {string} name      module under cli/, e.g. "hyperctl"
 * @param {string} runExport the exported function: (args: string[]) => Promise<number>
 * @param {{ forceExitAfterMs?: number }} [options] exit even if a stray handle
 *   (a native Temporal runtime, a socket) would keep the process alive this long
 *   after the CLI returned
 */
export async function launch(name, runExport, options = {}) {
  // The AWS SDK warns on every run that its releases after January 2027 need
  // Node 22. The project stays on Node 20 on purpose (README, dependencies); the
  // notice is for whoever upgrades it, and only tore the tools' progress output.
  // Set the variable to false to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const root = fileURLToPath(new URL('..', import.meta.url));
  const built = `${root}dist/cli/${name}.js`;
  let entry;
  if (existsSync(built)) {
    entry = pathToFileURL(built).href;
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    entry = pathToFileURL(`${root}src/cli/${name}.ts`).href;
  }
  const module = await import(entry);
  const code = await module[runExport](process.argv.slice(2));
  // Let stdout drain before exiting (pipes are asynchronous).
  process.exitCode = code;
  if (options.forceExitAfterMs !== undefined) {
    setTimeout(() => process.exit(code), options.forceExitAfterMs).unref();
  }
}
