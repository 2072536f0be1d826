#!/usr/bin/env node
// Launcher: the compiled CLI when built, otherwise the TypeScript source (bin/launch.js).
// Standalone mode runs a Temporal worker in-process; should anything of it linger
// after the export finished, the process still ends shortly after.
import { launch } from './launch.js';

await launch('hyperexport', 'runHyperexport', { forceExitAfterMs: 3_000 });
