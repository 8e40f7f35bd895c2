/**
 * How the workflow bundle is built, for every place that builds one: the worker at start (sources),
 * `npm run build` (the prebuilt bundle), the replay tier and the workflow tests. They all run the same code,
 * loaded the same way.
 *
 * **Shared modules.** The SDK runs every workflow of a worker thread in one reusable V8 context, but each
 * workflow evaluates its own copy of every module it imports, so a cached workflow carries all of them.
 * `preloadModules` evaluates the listed modules once per thread and shares them (the SDK deep-freezes their
 * exports). That is right only for modules without per-workflow state: here, the `domain/` modules, which
 * are pure (DESIGN.md). The list is computed, not kept by hand: the domain modules the workflow code
 * imports whose whole import closure stays inside `domain/`. A domain module that imported a package, or
 * anything outside `domain/`, would stay per workflow, and so would every module importing it.
 * Measured on 1,000 host workflows: 63 KiB of heap each instead of 110 KiB (docs/performance.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The workflow code's entry point: the sources, or the compiled tree (`dist/`, when it has no prebuilt bundle). */
export const WORKFLOWS_PATH = ['index.ts', 'index.js'].map((f) => join(ROOT, 'workflows', f)).find((f) => existsSync(f)) ?? join(ROOT, 'workflows', 'index.ts');
const DOMAIN = join(ROOT, 'domain');

/**
 * The modules a TypeScript source loads at run time: `import`/`export … from` and bare `import '…'`.
 * `import type` and `export type` are erased and load nothing; an import with inline `type` names is kept,
 * since it may still load its module.
 */
export function valueImports(source: string): string[] {
  const specifiers: string[] = [];
  const from = /(?:^|\n)[ \t]*(?:import|export)\s+(type\s+)?[\w\s{},*$]*?\s*from\s*['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(from)) if (!m[1]) specifiers.push(m[2] as string);
  for (const m of source.matchAll(/(?:^|\n)[ \t]*import\s*['"]([^'"]+)['"]/g)) specifiers.push(m[1] as string);
  return specifiers;
}

/**
 * The modules under `sharedRoot` that `entry` reaches and that may be shared: every module they load
 * (transitively) is a relative import that also lies under `sharedRoot`. Absolute paths, sorted.
 */
export function shareableModules(entry: string, sharedRoot: string): string[] {
  const imports = new Map<string, { relative: string[]; external: boolean }>();
  const read = (file: string) => {
    let known = imports.get(file);
    if (!known) {
      const specifiers = valueImports(readFileSync(file, 'utf8'));
      const relative = specifiers.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s));
      known = { relative, external: relative.length !== specifiers.length || relative.some((f) => !existsSync(f)) };
      imports.set(file, known);
    }
    return known;
  };
  const inside = (file: string) => file.startsWith(sharedRoot + sep);
  const reached = new Set<string>();
  const walk = (file: string) => {
    if (reached.has(file) || !existsSync(file)) return;
    reached.add(file);
    for (const next of read(file).relative) walk(next);
  };
  walk(entry);
  // Unshareable: outside the root, or loading a package; then, until nothing changes, whatever loads one.
  const unshareable = new Set([...reached].filter((f) => !inside(f) || read(f).external));
  for (let changed = true; changed; ) {
    changed = false;
    for (const f of reached) {
      if (!unshareable.has(f) && read(f).relative.some((g) => unshareable.has(g) || !reached.has(g))) {
        unshareable.add(f);
        changed = true;
      }
    }
  }
  return [...reached].filter((f) => !unshareable.has(f)).sort();
}

/** The pure domain modules the workflow code imports, evaluated once per worker thread. */
export function sharedWorkflowModules(): string[] {
  return shareableModules(WORKFLOWS_PATH, DOMAIN);
}

/** A logger for `bundleWorkflowCode` that drops webpack's output: a build that fails throws anyway. */
export const QUIET_BUNDLER_LOGGER = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** `bundleWorkflowCode` options every bundle of the workflow code uses (add the logger and converters). */
export function workflowBundleOptions(): { workflowsPath: string; preloadModules: string[] } {
  return { workflowsPath: WORKFLOWS_PATH, preloadModules: sharedWorkflowModules() };
}
