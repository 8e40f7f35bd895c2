#!/usr/bin/env node
// The `tempered` command: the operator's CLI. Runs the CLI under Node 24 (brought from the npm registry when
// the machine's Node is older): the TypeScript sources in a checkout (`npx tempered ...` after `npm ci`), the
// compiled JavaScript of `npm run build` in an installed package (`npm pack`; Node does not run TypeScript
// from node_modules).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runWithNode24 } from './node24.mjs';

const source = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const main = existsSync(source) ? source : compiled;
process.exitCode = await runWithNode24(['node', main, ...process.argv.slice(2)]);
