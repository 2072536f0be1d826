#!/usr/bin/env node
// Launcher: the compiled daemon when built, otherwise the TypeScript source (bin/launch.js).
import { launch } from './launch.js';

await launch('hypervisord', 'runHypervisord');
