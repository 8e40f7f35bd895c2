/** What the integration tier's global set-up hands to tests: plain data, so it crosses process boundaries. */
import { inject } from 'vitest';
import type { SushySystem } from '../stack/sushy.ts';

export interface StackInfo {
  stateDir: string;
  temporal: { address: string; namespace: string; cli: string };
  kube: { server: string; kubeconfig: string; kubectl: string; auditLog: string };
  sushy: { url: string; username: string; password: string; systems: SushySystem[] };
  ipmi: { address: string; port: number; username: string; password: string; ipmitool: string; stateDir: string }[];
  /** The Cluster API managers (the `capi` project's stack only): their log files. */
  capi?: { logs: string[] };
}

/**
 * The stack this test file runs on. The set-up starts one stack per vitest worker (test/stack-setup.ts) and a
 * worker runs one file at a time, so a file has its stack to itself while it runs, as when the files ran one by
 * one: it may stop sushy-tools, kill the Temporal server or use sushy's first system without meeting another
 * file. vitest numbers its live workers 1..maxWorkers (VITEST_POOL_ID), never two live workers alike.
 */
export function sharedStack(): StackInfo {
  const stacks = inject('stacks');
  const slot = Number(process.env.VITEST_POOL_ID ?? '1');
  const stack = stacks[(slot - 1) % stacks.length];
  if (!stack) throw new Error(`no integration stack for vitest worker ${process.env.VITEST_POOL_ID} (${stacks.length} started)`);
  return stack;
}
