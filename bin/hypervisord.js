#!/usr/bin/env node
// Launcher: the compiled daemon when `npm run build` has produced it, otherwise the
// TypeScript source through tsx, so a fresh clone works without a build.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}dist/cli/hypervisord.js`;
let entry;
if (existsSync(built)) {
  entry = pathToFileURL(built).href;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = pathToFileURL(`${root}src/cli/hypervisord.ts`).href;
}
const { runHypervisord } = await import(entry);
process.exitCode = await runHypervisord(process.argv.slice(2));
