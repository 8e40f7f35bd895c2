/**
 * How every command tells a mistake in how it was called (usage printed, exit code 2) from a failure (exit 1).
 * Its own module, so that light commands (the codec server) need not load the Temporal and Kubernetes clients.
 */

/** A mistake in how a command was called: usage is printed, exit code 2. */
export class UsageError extends Error {}

/**
 * A mistake in how a command was called: a UsageError, or node:util parseArgs' own. Other errors carry codes
 * too, not always strings (Kubernetes: the HTTP status; gRPC: a number).
 */
export function isUsageError(error: unknown): boolean {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
