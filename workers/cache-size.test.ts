import { describe, expect, it } from 'vitest';
import {
  CACHED_WORKFLOW_MIB,
  MAX_DEFAULT_CACHED_WORKFLOWS,
  MEMORY_LIMIT_SHARE,
  MIN_DEFAULT_CACHED_WORKFLOWS,
  WORKER_BASE_MIB,
  stickyCacheSize,
} from './cache-size.ts';

const planned = (cached: number) => WORKER_BASE_MIB + cached * CACHED_WORKFLOW_MIB;

describe('the sticky cache size', () => {
  it('is what TEMPERED_MAX_CACHED_WORKFLOWS says, whatever the memory limit', () => {
    expect(stickyCacheSize({ override: 5000, memoryLimitMiB: 512 })).toEqual({ maxCachedWorkflows: 5000, reason: 'TEMPERED_MAX_CACHED_WORKFLOWS' });
  });

  it('is the largest default without a memory limit', () => {
    expect(stickyCacheSize({}).maxCachedWorkflows).toBe(MAX_DEFAULT_CACHED_WORKFLOWS);
  });

  it("fits the planned share of the manifests' 2 GiB limit, and one more workflow would not", () => {
    const { maxCachedWorkflows, reason } = stickyCacheSize({ memoryLimitMiB: 2048 });
    expect(maxCachedWorkflows).toBeLessThan(MAX_DEFAULT_CACHED_WORKFLOWS);
    expect(planned(maxCachedWorkflows)).toBeLessThanOrEqual(2048 * MEMORY_LIMIT_SHARE);
    expect(planned(maxCachedWorkflows + 1)).toBeGreaterThan(2048 * MEMORY_LIMIT_SHARE);
    expect(reason).toBe('80 % of the 2048 MiB memory limit');
  });

  it('grows with the limit up to the largest default, and never falls below the floor', () => {
    const sizes = [128, 256, 512, 1024, 1536, 2048, 3072, 4096, 8192, 65536].map((m) => stickyCacheSize({ memoryLimitMiB: m }).maxCachedWorkflows);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeGreaterThanOrEqual(sizes[i - 1]!);
    expect(sizes[0]).toBe(MIN_DEFAULT_CACHED_WORKFLOWS);
    expect(sizes.at(-1)).toBe(MAX_DEFAULT_CACHED_WORKFLOWS);
  });
});
