/**
 * vitest globalSetup of the integration tier: starts the real local stack once (Temporal dev server,
 * kube-apiserver + etcd with the project's CRDs, sushy-tools, ipmi_sim) and hands its addresses to the tests
 * through `inject('stack')`. Stops everything at the end, and the stack's reaper stops it even if vitest dies.
 *
 * The `capi` project (test/capi/) gets a stack of its own with the real Cluster API controllers instead of the
 * BMC peers: their build takes minutes of both cores cold, so only runs that include those tests pay for it.
 * vitest runs every set-up before the first test, so `npm test` runs the tiers in two vitest runs (package.json
 * `test:tiers`): every other tier first, with TEMPERED_CAPI_FOLLOWS=1 telling this set-up that the
 * `capi` run comes next, then `capi`. With that hint the integration set-up starts the Cluster API build in the
 * background at low priority, so it uses the cores the other tiers' tests leave idle, and its teardown waits for
 * it (the build writes into the cache under its lock; a build killed halfway is redone, never trusted). The hint
 * hides nothing: without it, the `capi` set-up builds what it needs itself.
 */
import type { TestProject } from 'vitest/node';
import { kubeControllerManager, temporalCli, temporalServerBinaries } from '../stack/binaries.ts';
import { capiBinaries } from '../stack/capi-binaries.ts';
import { startStack, type Stack } from '../stack/index.ts';
import type { StackInfo } from './stack-info.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

let stack: Stack | undefined;
let capiBuildAhead: Promise<void> | undefined;

/** Niceness of the build ahead: the tests running beside it (some racing timers) keep the cores first. */
const BUILD_AHEAD_NICE = 10;

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  const capi = project.name === 'capi';
  if (!capi && process.env.TEMPERED_CAPI_FOLLOWS === '1') {
    const progress = (m: string) => void process.stderr.write(`[stack capi build ahead] ${m}\n`);
    const build = { nice: BUILD_AHEAD_NICE };
    // A failure here is not this run's: the `capi` run's set-up builds again and reports it.
    capiBuildAhead = Promise.all([capiBinaries(progress, build), kubeControllerManager(progress, build)]).then(
      () => progress('done'),
      (error: unknown) => progress(`failed (the capi run builds again): ${(error as Error).message}`),
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
  if (capiBuildAhead) {
    process.stderr.write('[stack capi build ahead] waiting for it to finish (the capi run uses it next)\n');
    await capiBuildAhead;
  }
}
