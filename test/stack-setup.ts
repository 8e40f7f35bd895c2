/**
 * vitest globalSetup of the integration tier: starts the real local stack once (Temporal dev server,
 * kube-apiserver + etcd with the project's CRDs, sushy-tools, ipmi_sim) and hands its addresses to the tests
 * through `inject('stack')`. Stops everything at the end, and the stack's reaper stops it even if vitest dies.
 *
 * The `capi` project (test/capi/) gets a stack of its own with the real Cluster API controllers instead of the
 * BMC peers: their build takes minutes, so only runs that include those tests pay for it.
 */
import type { TestProject } from 'vitest/node';
import { startStack, type Stack } from '../stack/index.ts';
import type { StackInfo } from './stack-info.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

let stack: Stack | undefined;

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  const capi = project.name === 'capi';
  stack = await startStack({
    ...(capi
      ? { capi: {}, sushy: false, ipmi: false }
      : {
          // Distinctive passwords, so tests that scan histories and logs for them cannot be fooled by the word.
          sushy: { systems: 12, password: `sushy-${Date.now().toString(36)}-pw` },
          ipmi: { bmcs: 2, password: `ipmi${Date.now().toString(36).slice(-6)}` },
        }),
    progress: (m) => process.stderr.write(`[stack${capi ? ' capi' : ''}] ${m}\n`),
  });
  const { temporal, kube, sushy } = stack;
  if (!temporal || !kube || (!sushy && !capi)) throw new Error('the integration stack must include Temporal, Kubernetes and sushy-tools');
  project.provide('stack', {
    stateDir: stack.stateDir,
    temporal: { address: temporal.address, namespace: temporal.namespace, cli: temporal.cli },
    kube: { server: kube.server, kubeconfig: kube.kubeconfig, kubectl: kube.kubectl, auditLog: kube.auditLog },
    sushy: sushy ? { url: sushy.url, username: sushy.username, password: sushy.password, systems: sushy.systems } : { url: '', username: '', password: '', systems: [] },
    ...(stack.capi ? { capi: { logs: Object.values(stack.capi.managers).map((m) => m.proc.logFile) } } : {}),
    ipmi: stack.ipmi.map((b, i) => ({ address: b.address, port: b.port, username: b.username, password: b.password, ipmitool: b.ipmitool, stateDir: `${stack?.stateDir}/ipmi-${i}` })),
  });
  process.stderr.write(`[stack] up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${stack.stateDir})\n`);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
