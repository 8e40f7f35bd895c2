import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workflowSource } from './worker.ts';

describe('workflowSource: which workflow code the worker loads', () => {
  it('the prebuilt bundle when it exists (npm run build, the image)', () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'tempered-bundle-')), 'workflow-bundle.js');
    writeFileSync(bundle, '// bundle');
    expect(workflowSource(bundle)).toEqual({ workflowBundle: { codePath: bundle } });
  });

  it('the TypeScript sources otherwise (a checkout), bundled at start', () => {
    const source = workflowSource(join(tmpdir(), 'no-such-dir', 'workflow-bundle.js'));
    expect(source.workflowBundle).toBeUndefined();
    expect(source.workflowsPath).toMatch(/workflows\/index\.ts$/);
    // Bundled as `npm run build` bundles it: the pure domain modules shared by all workflows of a thread.
    expect(source.bundlerOptions?.preloadModules).toEqual(expect.arrayContaining([expect.stringMatching(/domain\/host-state\.ts$/)]));
  });
});
