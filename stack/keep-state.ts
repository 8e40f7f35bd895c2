/**
 * TEMPERED_KEEP_STATE=1 keeps the temporary state the stack, `npm test` and the benchmarks would remove when they
 * end (servers' data and logs, tests' disk images), to look at after a run.
 */
import { rmSync } from 'node:fs';
import { stopProcessesIn } from './processes.ts';

/** Whether TEMPERED_KEEP_STATE asks to keep the state (any value but empty and `0`). */
export function keepState(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.TEMPERED_KEEP_STATE;
  return value !== undefined && value !== '' && value !== '0';
}

/** What became of a state directory at the end of a run, and the line that tells the person who ran it. */
export interface StateDirEnd {
  kept: boolean;
  line: string;
}

/**
 * Ends a state directory a run made for itself (never one it was given): removes it, unless TEMPERED_KEEP_STATE
 * is set or `keepFor` names outputs a person needs from it (profiles, say). Called once the run has stopped what
 * it started; a process still logging into the directory (a start that failed half-way) is stopped first.
 */
export async function endStateDir(dir: string, options: { keepFor?: string; env?: NodeJS.ProcessEnv } = {}): Promise<StateDirEnd> {
  if (keepState(options.env)) return { kept: true, line: `state kept in ${dir} (TEMPERED_KEEP_STATE)` };
  if (options.keepFor) return { kept: true, line: `state kept in ${dir}: ${options.keepFor}` };
  await stopProcessesIn(dir);
  rmSync(dir, { recursive: true, force: true });
  return { kept: false, line: `state removed: ${dir} (TEMPERED_KEEP_STATE=1 keeps it)` };
}
