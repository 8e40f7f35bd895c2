/**
 * Waiting in tests, in one place: tests wait for the condition they need (a poll with a deadline, or a
 * watch), never for a fixed time. `waitFor` names what it waits for, so a timeout says which condition
 * never came (and, with `detail`, what was seen instead).
 */

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Poll this often (default 100 ms). */
  intervalMs?: number;
  /** What to add to a timeout's message: the state the test was looking at. */
  detail?: () => unknown;
  /** Stop waiting at once, failing with this message, when it returns one (the thing waited on died). */
  failIf?: () => string | undefined;
}

/**
 * Polls `probe` until it returns something other than undefined or false, and returns that. A probe that
 * throws is polled again (the last error is in the timeout's message).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    const failed = options.failIf?.();
    if (failed !== undefined) throw new Error(`${failed} while waiting for ${what}${options.detail ? `; ${await describe(options.detail)}` : ''}`);
    if (Date.now() > deadline) {
      const detail = options.detail ? `; ${await describe(options.detail)}` : '';
      const cause = lastError ? ` (last error: ${String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}${detail}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}

async function describe(detail: () => unknown): Promise<string> {
  try {
    const value = await detail();
    return typeof value === 'string' ? value : JSON.stringify(value);
  } catch (error) {
    return `(could not describe: ${String(error)})`;
  }
}

/**
 * Resolves after `ms`. For pacing inside a poll or a fake's behaviour, and for tests of time itself (a
 * timer's accuracy); never to wait for something to have happened: use `waitFor`.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves after a random time below `maxMs`, and says how long it was: the random moment of a kill test (a
 * SIGKILL or a server restart somewhere in a window a condition opened). Deliberately time: the moment is what
 * such a test varies.
 */
export async function randomMoment(maxMs: number): Promise<number> {
  const ms = Math.floor(Math.random() * maxMs);
  await sleep(ms);
  return ms;
}
