/**
 * Time and randomness for workflow code. Inside Temporal's workflow sandbox `Date.now()` is the current
 * workflow task's time and `Math.random()` a PRNG seeded per run, both replayed identically, so these are
 * deterministic here (and only here: never call them from workflow code elsewhere).
 */

/** The workflow's current time, in ms since the epoch. */
export function workflowNow(): number {
  return Date.now();
}

/** A replay-safe random number in [0, 1). */
export function workflowRandom(): number {
  return Math.random();
}
