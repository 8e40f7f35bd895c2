/**
 * `npm run build` (also run by `npm pack` as `prepack`): the production build. Compiles the TypeScript that
 * ships (tsconfig.build.json: domain, workflows, activities, bridge, workers, cli, sim) to JavaScript in
 * `dist/`, prebuilds the workflow bundle the worker loads instead of bundling at start
 * (`dist/workflow-bundle.js`, workers/worker.ts `workflowSource`), and copies the runtime assets the code
 * reads from disk (the simulator's Redfish mockups).
 *
 * It builds into a fresh directory and swaps it in whole, so a build that fails halfway never leaves a
 * half-written `dist/` behind, and a reader never sees a mix of two builds.
 *
 *   npm run build                 writes dist/
 *   node deploy/build.ts --out D  writes D instead (the image build uses its own copy)
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../workers/data-converter.ts';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../workers/workflow-bundle.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);

/** Where `npm run build` writes, and the bundle's name inside it (workers/worker.ts looks for it). */
export const DIST_DIR = join(ROOT, 'dist');
export const WORKFLOW_BUNDLE = 'workflow-bundle.js';

/** Files the compiled code reads at run time, copied next to it (source, relative to the repo root). */
const ASSETS = ['sim/mockups'];

export interface BuildResult {
  outDir: string;
  /** Seconds each step took. */
  timings: { compile: number; bundle: number; assets: number };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, Math.round((performance.now() - started) / 100) / 10];
}

/** Builds into `outDir` (see the file header). */
export async function build(outDir: string = DIST_DIR): Promise<BuildResult> {
  const target = resolve(outDir);
  const staging = `${target}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(dirname(staging), { recursive: true });
  try {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const [, compile] = await timed(async () => {
      try {
        await execFileAsync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', staging], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string; message: string };
        throw new Error(`tsc failed:\n${(e.stdout ?? '') + (e.stderr ?? '') || e.message}`, { cause: error });
      }
    });
    const [, bundle] = await timed(async () => {
      const { code } = await bundleWorkflowCode({
        ...workflowBundleOptions(),
        // The converter every process uses (workers/data-converter.ts): failure messages go into payloads.
        failureConverterPath: FAILURE_CONVERTER_PATH,
        logger: QUIET_BUNDLER_LOGGER,
      });
      writeFileSync(join(staging, WORKFLOW_BUNDLE), code);
    });
    const [, assets] = await timed(async () => {
      for (const asset of ASSETS) cpSync(join(ROOT, asset), join(staging, asset), { recursive: true });
    });
    // The compiled tree is ESM like the sources: Node reads "type" from the nearest package.json.
    writeFileSync(join(staging, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
    return { outDir: target, timings: { compile, bundle, assets } };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

async function main(args: string[]): Promise<number> {
  const outIndex = args.indexOf('--out');
  const outDir = outIndex >= 0 ? args[outIndex + 1] : undefined;
  if (outIndex >= 0 && !outDir) {
    console.error('usage: node deploy/build.ts [--out DIR]');
    return 2;
  }
  const result = await build(outDir);
  const { compile, bundle, assets } = result.timings;
  console.log(`built ${result.outDir}: compiled in ${compile} s, workflow bundle in ${bundle} s, assets in ${assets} s`);
  if (!existsSync(join(result.outDir, WORKFLOW_BUNDLE))) return 1;
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
