/**
 * `npm test`'s tiers (package.json `test:tiers`): every tier but `capi` in one vitest run, with
 * TEMPERED_CAPI_FOLLOWS=1 (test/stack-setup.ts builds the Cluster API controllers ahead), then the `capi` tier.
 * Both always run, and `npm test` fails if either fails.
 *
 * Each run also writes vitest's JSON report, and a run counts as passed only when the report says so and holds
 * tests. A vitest process that ends with exit code 0 but without its report ran nothing that can be trusted:
 * one `.ci/run` on 41917fa did exactly that (its first run stopped during the stacks' start, printed no result,
 * exited 0, and `npm test` went on to the `capi` run and passed).
 *
 *   node test/run-tiers.ts [extra vitest arguments for both runs]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

function main(extra: string[]): number {
  const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'tempered-tiers-'));
  const failures: string[] = [];
  try {
    TIERS.forEach((tier, i) => {
      const reportFile = join(dir, `report-${i}.json`);
      const run = spawnSync(process.execPath, [vitest, 'run', ...tier.args, '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...extra], {
        stdio: 'inherit',
        env: { ...process.env, ...tier.env },
      });
      const why = verdict({ status: run.status, signal: run.signal }, existsSync(reportFile) ? readFileSync(reportFile, 'utf8') : undefined);
      if (why) failures.push(`${tier.name}: ${why}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const failure of failures) process.stderr.write(`npm test: ${failure}\n`);
  return failures.length === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
