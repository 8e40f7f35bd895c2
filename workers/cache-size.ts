/**
 * How many workflows the worker keeps in its sticky cache by default: as many as fit in its memory limit.
 *
 * A cached workflow runs its next task without replaying its history, so a bigger cache saves CPU, but each one
 * holds memory (its state, the SDK core's copy of its run, the allocator's share). At 5,000 hosts in flight the
 * worker held 1,450-1,640 MiB with 1,500 workflows cached and 1,770-2,110 MiB with 2,000: about
 * WORKER_BASE_MIB plus CACHED_WORKFLOW_MIB per cached workflow (docs/performance.md, "Sizing the sticky cache").
 * A cache sized past the container's memory limit ends in an OOM kill,
 * which loses the whole cache and every task in flight, so the default plans for a share of the limit and leaves
 * the rest to the garbage collector's slack and bursts. The limit comes from TEMPERED_MEMORY_LIMIT_MIB: the
 * manifest sets it from the container's own limit (the downward API), the local stack from the manifest.
 * Without a limit the cache holds MAX_DEFAULT_CACHED_WORKFLOWS; TEMPERED_MAX_CACHED_WORKFLOWS overrides all this.
 */

/** The worker's RSS at 5,000 hosts in flight, less its cached workflows (MiB). */
export const WORKER_BASE_MIB = 500;
/** What one more cached workflow adds to the worker's RSS (MiB). */
export const CACHED_WORKFLOW_MIB = 0.7;
/** The share of the memory limit the cache plans for. */
export const MEMORY_LIMIT_SHARE = 0.8;
/** The default without a memory limit, and the most the default grows to with one. */
export const MAX_DEFAULT_CACHED_WORKFLOWS = 2000;
/** The least the default shrinks to: below it every task would replay (the SDK's own floor is 10). */
export const MIN_DEFAULT_CACHED_WORKFLOWS = 50;

export interface CacheSize {
  maxCachedWorkflows: number;
  /** Why this size, for the start-up log line. */
  reason: string;
}

/** The sticky cache size for a worker with this memory limit (MiB) and this override, with the reason. */
export function stickyCacheSize(options: { memoryLimitMiB?: number | undefined; override?: number | undefined }): CacheSize {
  if (options.override !== undefined) return { maxCachedWorkflows: options.override, reason: 'TEMPERED_MAX_CACHED_WORKFLOWS' };
  const limit = options.memoryLimitMiB;
  if (limit === undefined) return { maxCachedWorkflows: MAX_DEFAULT_CACHED_WORKFLOWS, reason: 'no memory limit (TEMPERED_MEMORY_LIMIT_MIB unset)' };
  const fits = Math.floor((limit * MEMORY_LIMIT_SHARE - WORKER_BASE_MIB) / CACHED_WORKFLOW_MIB);
  const size = Math.min(MAX_DEFAULT_CACHED_WORKFLOWS, Math.max(MIN_DEFAULT_CACHED_WORKFLOWS, fits));
  return { maxCachedWorkflows: size, reason: `${Math.round(MEMORY_LIMIT_SHARE * 100)} % of the ${limit} MiB memory limit` };
}
