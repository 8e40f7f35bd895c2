#!/usr/bin/env node
// The `tempered` command: the operator's CLI. Runs cli/main.ts under Node 24 (brought from the npm registry
// when the machine's Node is older), so `npx tempered ...` works from a checkout after `npm ci`.
import { fileURLToPath } from 'node:url';
import { runWithNode24 } from './node24.mjs';

const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
process.exitCode = await runWithNode24(['node', main, ...process.argv.slice(2)]);
