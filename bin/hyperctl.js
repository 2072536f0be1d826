#!/usr/bin/env node
// Launcher: the compiled CLI when `npm run build` has produced it, otherwise the
// TypeScript source through tsx, so a fresh clone works without a build.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}dist/cli/hyperctl.js`;
let entry;
if (existsSync(built)) {
  entry = pathToFileURL(built).href;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = pathToFileURL(`${root}src/cli/hyperctl.ts`).href;
}
const { runHyperctl } = await import(entry);
const code = await runHyperctl(process.argv.slice(2));
// Let stdout drain before exiting (pipes are asynchronous).
process.exitCode = code;
