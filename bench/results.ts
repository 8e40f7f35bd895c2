/**
 * Where benchmark figures are kept: one JSON line per run appended to `bench/results/<bench>.jsonl`, with the
 * commit it ran on (and whether the tree had uncommitted changes), the time and the machine, so figures can be
 * compared across commits with `git log -p bench/results/`. Commit the file with the change it measures.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: RESULTS, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** Appends one run's figures; returns the file written. */
export function recordResult(bench: string, figures: Record<string, unknown>): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = `${RESULTS}${bench}.jsonl`;
  const line = {
    bench,
    commit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30) },
    ...figures,
  };
  appendFileSync(file, `${JSON.stringify(line)}\n`);
  return file;
}
