/**
 * vitest globalSetup of the integration tier: starts the real local stack once (Temporal dev server,
 * kube-apiserver + etcd with the project's CRDs, sushy-tools, ipmi_sim) and hands its addresses to the tests
 * through `inject('stack')`. Stops everything at the end, and the stack's reaper stops it even if vitest dies.
 */
import type { TestProject } from 'vitest/node';
import { temporalCli, temporalServerBinaries } from '../stack/binaries.ts';
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
  const progress = (m: string) => process.stderr.write(`[stack] ${m}\n`);
  // The Temporal cluster's server (test/cluster.int.test.ts, the chaos test) is built while the stack comes
  // up, after the CLI, which embeds the same server: the second build then finds most packages in Go's cache.
  const serverBuild = temporalCli(progress).then(() => temporalServerBinaries(progress));
  serverBuild.catch(() => {}); // awaited below; a failed stack start must not leave it unhandled
  stack = await startStack({
    // Distinctive passwords, so tests that scan histories and logs for them cannot be fooled by the word.
    sushy: { systems: 12, password: `sushy-${Date.now().toString(36)}-pw` },
    ipmi: { bmcs: 2, password: `ipmi${Date.now().toString(36).slice(-6)}` },
    progress,
  });
  await serverBuild;
  const { temporal, kube, sushy } = stack;
  if (!temporal || !kube || !sushy) throw new Error('the integration stack must include Temporal, Kubernetes and sushy-tools');
  project.provide('stack', {
    stateDir: stack.stateDir,
    temporal: { address: temporal.address, namespace: temporal.namespace, cli: temporal.cli },
    kube: { server: kube.server, kubeconfig: kube.kubeconfig, kubectl: kube.kubectl, auditLog: kube.auditLog },
    sushy: { url: sushy.url, username: sushy.username, password: sushy.password, systems: sushy.systems },
    ipmi: stack.ipmi.map((b, i) => ({ address: b.address, port: b.port, username: b.username, password: b.password, ipmitool: b.ipmitool, stateDir: `${stack?.stateDir}/ipmi-${i}` })),
  });
  process.stderr.write(`[stack] up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${stack.stateDir})\n`);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
