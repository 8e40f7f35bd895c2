/**
 * vitest globalSetup of the integration tier: starts the real local stack once (Temporal dev server,
 * kube-apiserver + etcd with the project's CRDs, sushy-tools, ipmi_sim) and hands its addresses to the tests
 * through `inject('stack')`. Stops everything at the end, and the stack's reaper stops it even if vitest dies.
 *
 * The `capi` project (test/capi/) gets a stack of its own with the real Cluster API controllers instead of the
 * BMC peers: their build takes minutes, so only runs that include those tests pay for it. vitest runs the
 * projects' set-ups one after the other, so the first set-up of a run that includes them starts that build in
 * the background, beside the other servers' builds; the `capi` set-up then finds it done (or waits for it
 * under the cache's lock).
 */
import type { TestProject } from 'vitest/node';
import { temporalCli, temporalServerBinaries } from '../stack/binaries.ts';
import { kubeControllerManager } from '../stack/binaries.ts';
import { capiBinaries } from '../stack/capi-binaries.ts';
import { startStack, type Stack } from '../stack/index.ts';
import type { StackInfo } from './stack-info.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

let stack: Stack | undefined;
let capiPrebuild: Promise<unknown> | undefined;

/**
 * Whether this run includes the `capi` project's tests: the project is selected and no file filter excludes
 * test/capi/ (vitest's own filter list is internal; without it, assume they are included).
 */
function capiTestsInRun(project: TestProject): boolean {
  if (!project.vitest.projects.some((p) => p.name === 'capi')) return false;
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern ?? [];
  return filters.length === 0 || filters.some((f) => f.includes('capi'));
}

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  const capi = project.name === 'capi';
  if (!capi && !capiPrebuild && capiTestsInRun(project)) {
    const progress = (m: string) => process.stderr.write(`[stack capi build] ${m}\n`);
    // A failure here is not this project's: the capi set-up builds again and reports it.
    capiPrebuild = Promise.all([capiBinaries(progress), kubeControllerManager(progress)]).catch((error: unknown) =>
      progress(`background build failed: ${(error as Error).message}`),
    );
  }
  const progress = (m: string) => process.stderr.write(`[stack${capi ? ' capi' : ''}] ${m}\n`);
  // The Temporal cluster's server (test/cluster.int.test.ts, the chaos test) is built while the stack comes
  // up, after the CLI, which embeds the same server: the second build then finds most packages in Go's cache.
  const serverBuild = capi ? Promise.resolve() : temporalCli(progress).then(() => temporalServerBinaries(progress));
  serverBuild.catch(() => {}); // awaited below; a failed stack start must not leave it unhandled
  stack = await startStack({
    ...(capi
      ? { capi: {}, sushy: false, ipmi: false }
      : {
          // Distinctive passwords, so tests that scan histories and logs for them cannot be fooled by the word.
          sushy: { systems: 12, password: `sushy-${Date.now().toString(36)}-pw` },
          ipmi: { bmcs: 2, password: `ipmi${Date.now().toString(36).slice(-6)}` },
        }),
    progress,
  });
  await serverBuild;
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
