import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shareableModules, sharedWorkflowModules, valueImports } from './workflow-bundle.ts';

describe('valueImports: what a module loads at run time', () => {
  it('finds value imports, re-exports and bare imports, over several lines', () => {
    const source = [
      "import { a, b } from './a.ts';",
      'import {',
      '  c,',
      '  type D,',
      "} from './c.ts';",
      "import * as e from 'e-package';",
      "export { f } from './f.ts';",
      "export * from './g.ts';",
      "import './side-effect.ts';",
    ].join('\n');
    expect(valueImports(source)).toEqual(['./a.ts', './c.ts', 'e-package', './f.ts', './g.ts', './side-effect.ts']);
  });

  it('skips type-only imports and re-exports, and the word "from" inside code', () => {
    const source = [
      "import type { A } from './a.ts';",
      "export type { B } from './b.ts';",
      'export function pick() {',
      "  return Array.from('xy');",
      '}',
      "const note = 'taken from \\'./nowhere.ts\\'';",
    ].join('\n');
    expect(valueImports(source)).toEqual([]);
  });
});

describe('shareableModules: which modules may be evaluated once and shared by all workflows', () => {
  const tree = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'tempered-shared-'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(root, name, '..'), { recursive: true });
      writeFileSync(join(root, name), text);
    }
    return root;
  };

  it('shares the modules under the root whose whole import closure stays under it', () => {
    const root = tree({
      'wf/index.ts': "import { a } from '../d/a.ts';\nimport { b } from '../d/b.ts';\nimport { w } from './w.ts';\nimport { x } from '@temporalio/workflow';",
      'wf/w.ts': "import { c } from '../d/c.ts';",
      'd/a.ts': "import { z } from 'zod';",
      'd/b.ts': "import { c } from './c.ts';\nimport type { T } from '../wf/w.ts';",
      'd/c.ts': 'export const c = 1;',
      'd/uses-a.ts': "import { a } from './a.ts';",
      'd/unused.ts': 'export const u = 1;',
    });
    const shared = shareableModules(join(root, 'wf', 'index.ts'), join(root, 'd')).map((f) => f.slice(root.length + 1));
    // a loads a package; nothing outside d/ is shared; unused.ts is not reached; uses-a.ts is not reached either.
    expect(shared).toEqual([join('d', 'b.ts'), join('d', 'c.ts')]);
  });

  it('does not share a module that loads an unshareable one, however deep', () => {
    const root = tree({
      'wf/index.ts': "import { top } from '../d/top.ts';",
      'd/top.ts': "import { mid } from './mid.ts';",
      'd/mid.ts': "import { leaf } from './leaf.ts';",
      'd/leaf.ts': "import { state } from '../wf/state.ts';",
      'wf/state.ts': 'export let state = 0;',
    });
    expect(shareableModules(join(root, 'wf', 'index.ts'), join(root, 'd'))).toEqual([]);
  });

  it('does not share a module whose import does not resolve to a file', () => {
    const root = tree({ 'wf/index.ts': "import { a } from '../d/a.ts';", 'd/a.ts': "import { gone } from './gone.ts';" });
    expect(shareableModules(join(root, 'wf', 'index.ts'), join(root, 'd'))).toEqual([]);
  });
});

describe('the workflow bundle of this tree', () => {
  it('shares the pure domain modules the workflows use, and nothing else', () => {
    const shared = sharedWorkflowModules();
    expect(shared.every((f) => f.includes(`${sep}domain${sep}`))).toBe(true);
    for (const module of ['host-state.ts', 'host-lifecycle.ts', 'host-decisions.ts', 'errors.ts']) {
      expect(shared.some((f) => f.endsWith(`${sep}domain${sep}${module}`))).toBe(true);
    }
  });
});
