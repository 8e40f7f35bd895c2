/**
 * `npm test`'s tiers (package.json `test:tiers`): every tier but `capi` in one vitest run, with
 * TEMPERED_CAPI_FOLLOWS=1 (test/stack-setup.ts builds the Cluster API controllers ahead), then the `capi` tier.
 * Both always run, and `npm test` fails if either fails.
 *
 * Everything the tests write to the temporary directory (the stacks' state, disk images, agents' files, servers'
 * own temporary files) goes to one directory per `npm test` (TMPDIR), removed when the tiers end, or kept with
 * TEMPERED_KEEP_STATE=1 (stack/keep-state.ts) until the next `npm test`, which removes every run directory whose
 * owner process is gone (a run killed before its end, a kept one). Before, every run left 6-8 GB in /tmp (mostly
 * disk images under the stacks' state); after about a dozen runs the disk was full, and the CI run on de781f5
 * failed so.
 *
 * Each run also writes vitest's JSON report, and a run counts as passed only when the report says so and holds
 * tests. A vitest process that ends with exit code 0 but without its report ran nothing that can be trusted:
 * one `.ci/run` on 41917fa did exactly that (its first run stopped during the stacks' start, printed no result,
 * exited 0, and `npm test` went on to the `capi` run and passed).
 *
 *   node test/run-tiers.ts [extra vitest arguments for both runs]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keepState } from '../stack/keep-state.ts';
import { processAlive } from '../stack/processes.ts';

export interface TierRun {
  name: string;
  args: string[];
  env?: Record<string, string>;
}

export const TIERS: TierRun[] = [
  { name: 'unit, replay and integration', args: ['--project', '!capi'], env: { TEMPERED_CAPI_FOLLOWS: '1' } },
  { name: 'capi', args: ['--project', 'capi'] },
];

/** What a run's exit and its JSON report say: undefined when it passed, else why not. */
export function verdict(exit: { status: number | null; signal: string | null }, report: string | undefined): string | undefined {
  if (exit.signal) return `vitest was ended by ${exit.signal}`;
  if (exit.status !== 0) return `vitest exited with ${exit.status}`;
  if (report === undefined) return 'vitest exited with 0 but wrote no report: it ended before its tests finished, so nothing it ran can be trusted';
  let parsed: { success?: boolean; numTotalTests?: number; numFailedTests?: number };
  try {
    parsed = JSON.parse(report) as typeof parsed;
  } catch {
    return 'vitest wrote a report that is not JSON';
  }
  if (!parsed.numTotalTests) return 'vitest ran no tests';
  if (parsed.success !== true || (parsed.numFailedTests ?? 0) > 0) return `the report says it failed (${parsed.numFailedTests ?? '?'} failed tests)`;
  return undefined;
}

const RUN_PREFIX = 'tempered-tiers-';
const OWNER_FILE = 'owner.pid';

/**
 * Removes the directories of earlier runs under `parent` whose owner process is gone (a run killed before its
 * end); a run still going on keeps its own. Returns the names removed.
 */
export function removeAbandonedRuns(parent: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(RUN_PREFIX)) continue;
    const dir = join(parent, name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not written yet (a run starting now), or not ours
    }
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function main(extra: string[]): number {
  const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
  const parent = tmpdir();
  for (const name of removeAbandonedRuns(parent)) process.stderr.write(`npm test: removed ${join(parent, name)}, left by a run that did not end\n`);
  const dir = mkdtempSync(join(parent, RUN_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  const scratch = join(dir, 'tmp');
  mkdirSync(scratch);
  const failures: string[] = [];
  try {
    TIERS.forEach((tier, i) => {
      const reportFile = join(dir, `report-${i}.json`);
      const run = spawnSync(process.execPath, [vitest, 'run', ...tier.args, '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...extra], {
        stdio: 'inherit',
        env: { ...process.env, ...tier.env, TMPDIR: scratch },
      });
      const why = verdict({ status: run.status, signal: run.signal }, existsSync(reportFile) ? readFileSync(reportFile, 'utf8') : undefined);
      if (why) failures.push(`${tier.name}: ${why}`);
    });
  } finally {
    if (keepState()) process.stderr.write(`npm test: kept ${scratch} (TEMPERED_KEEP_STATE)\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
  for (const failure of failures) process.stderr.write(`npm test: ${failure}\n`);
  return failures.length === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
