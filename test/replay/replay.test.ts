/**
 * The replay tier: every history recorded by the workflow tier (test/replay/histories/*.json, written with
 * RECORD_HISTORIES=1) is replayed against the current workflow code. A change that is not behind
 * `patched()` and alters what a recorded workflow does fails here with a determinism error. The bundle is
 * built as production builds it (deploy/build.ts), with the shared domain modules (workers/workflow-bundle.ts)
 * and the failure converter that encodes messages, so
 * histories recorded before it (plain failure messages) are shown to replay under it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAILURE_CONVERTER_PATH } from '../../workers/data-converter.ts';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../../workers/workflow-bundle.ts';

const dir = fileURLToPath(new URL('./histories/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  bundle = await bundleWorkflowCode({
    ...workflowBundleOptions(),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: QUIET_BUNDLER_LOGGER,
  });
});

describe('recorded histories replay against the current workflow code', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s', async (file) => {
    const history = JSON.parse(readFileSync(`${dir}${file}`, 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history);
  });
});
