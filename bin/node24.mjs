#!/usr/bin/env node
// Runs a command under Node 24 LTS. Where the machine's own Node is older (Node 20 is end-of-life), Node 24
// comes from the npm registry (`node@24`, whose install places the official binary) into a versioned cache
// outside the repo. Plain JavaScript that Node 18+ can run, because it is what runs before Node 24 exists.
//
//   node bin/node24.mjs <command> [args...]   run <command> with Node 24 first on PATH
//   node bin/node24.mjs --print-bin-dir       print the directory holding Node 24's `node` (for shell scripts)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Node release the project runs on; bump it deliberately. */
export const NODE_VERSION = '24.21.0';

/** The cache root shared by every Tempered set-up step: TEMPERED_CACHE, else $XDG_CACHE_HOME/tempered. */
export function cacheRoot() {
  if (process.env.TEMPERED_CACHE) return process.env.TEMPERED_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tempered');
}

function currentMajor() {
  return Number(process.versions.node.split('.')[0]);
}

/** Returns the directory whose `node` is Node 24, installing it from the npm registry when missing. */
export function ensureNode24BinDir() {
  if (currentMajor() >= 24) return dirname(process.execPath);
  const dir = join(cacheRoot(), `node-${NODE_VERSION}`);
  const binDir = join(dir, 'node_modules', 'node', 'bin');
  if (existsSync(join(binDir, 'node'))) return binDir;

  process.stderr.write(`tempered: Node ${process.versions.node} is older than 24; installing node@${NODE_VERSION} from the npm registry into ${dir}\n`);
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  // npm's own output goes to stderr: stdout carries only the answer (`--print-bin-dir` is captured by scripts).
  const npm = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', staging, `node@${NODE_VERSION}`], {
    stdio: ['ignore', 2, 2],
  });
  if (npm.status !== 0 || !existsSync(join(staging, 'node_modules', 'node', 'bin', 'node'))) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`installing node@${NODE_VERSION} from the npm registry failed (npm exit ${npm.status}); check that the npm registry is reachable`);
  }
  try {
    renameSync(staging, dir);
  } catch (err) {
    // Another process finished the same install first: use theirs.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(binDir, 'node'))) throw err;
  }
  return binDir;
}

/** Runs argv with Node 24 first on PATH, forwarding termination signals; resolves to the exit code. */
export function runWithNode24(argv) {
  const binDir = ensureNode24BinDir();
  const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}` };
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
  // The terminal delivers Ctrl-C to the whole process group; the child decides how to stop, we wait for it.
  const forward = (signal) => () => {
    if (child.exitCode === null) child.kill(signal);
  };
  process.on('SIGINT', () => {});
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`tempered: cannot run ${argv[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  if (args[0] === '--print-bin-dir') {
    process.stdout.write(`${ensureNode24BinDir()}\n`);
  } else if (args.length === 0) {
    process.stderr.write('usage: node bin/node24.mjs <command> [args...] | --print-bin-dir\n');
    process.exitCode = 2;
  } else {
    process.exitCode = await runWithNode24(args);
  }
}
