/**
 * vitest globalSetup of the integration tier: starts the real local stack (Temporal dev server, kube-apiserver +
 * etcd with the project's CRDs, sushy-tools, ipmi_sim) once per vitest worker, and hands their addresses to the
 * tests through `sharedStack()` (test/stack-info.ts): a worker runs one file at a time on its own stack, so two
 * files run at once without meeting. Stops everything at the end, and the stacks' reaper stops them even if
 * vitest dies.
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
    stacks: StackInfo[];
  }
}

let stacks: Stack[] = [];
let capiBuildAhead: Promise<void> | undefined;
let serverBuild: Promise<void> | undefined;

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
  // The Temporal cluster's server (only test/cluster.int.test.ts and the chaos test use it) is built after the
  // CLI, which embeds the same server, so the second build finds most packages in Go's cache. It is not on the
  // set-up's critical path: the tests start while it builds, and the two files that need it wait for its cache
  // lock in their beforeAll. A failure here is not this set-up's: those files build again and report it.
  if (!capi) {
    serverBuild = temporalCli(progress)
      .then(() => temporalServerBinaries(progress))
      .then(
        () => void progress('Temporal server binaries ready'),
        (error: unknown) => void progress(`Temporal server build failed (the tests that need it build again): ${(error as Error).message}`),
      );
  }
  // One stack per vitest worker (test/stack-info.ts sharedStack): a worker runs one file at a time, so each file
  // has a stack to itself, and two files run at once. The stacks share the builds (one cache) and start together.
  const copies = capi ? 1 : Math.max(1, project.config.maxWorkers);
  // Every process a stack starts is unref'd (so a stack never holds vitest open), and so are the servers that
  // find free ports. One `.ci/run` saw vitest end during the stacks' start with exit code 0 and no output, which
  // is what Node does when nothing it waits for holds the event loop. Hold it until the stacks are up; should
  // vitest still end early, test/run-tiers.ts fails `npm test` for want of a report.
  const holdOpen = setInterval(() => {}, 60_000);
  const starts = await Promise.allSettled(
    Array.from({ length: copies }, (_, i) => {
      const tag = copies > 1 ? ` ${i + 1}` : '';
      const progress = (m: string) => process.stderr.write(`[stack${capi ? ' capi' : ''}${tag}] ${m}\n`);
      return startStack({
        ...(capi
          ? { capi: {}, sushy: false, ipmi: false }
          : {
              // Distinctive passwords, so tests that scan histories and logs for them cannot be fooled by the word.
              sushy: { systems: 12, password: `sushy-${Date.now().toString(36)}${i}-pw` },
              ipmi: { bmcs: 2, password: `ipmi${Date.now().toString(36).slice(-5)}${i}` },
            }),
        progress,
      });
    }),
  ).finally(() => clearInterval(holdOpen));
  stacks = starts.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = starts.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason; // teardown stops the stacks that did start
  project.provide('stacks', stacks.map((stack) => describeStack(stack, capi)));
  process.stderr.write(`[stack] ${copies} up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${stacks.map((x) => x.stateDir).join(', ')})\n`);
}

/** The plain data of a started stack that tests get (test/stack-info.ts). */
function describeStack(stack: Stack, capi: boolean): StackInfo {
  const { temporal, kube, sushy } = stack;
  if (!temporal || !kube || (!sushy && !capi)) throw new Error('the integration stack must include Temporal, Kubernetes and sushy-tools');
  return {
    stateDir: stack.stateDir,
    temporal: { address: temporal.address, namespace: temporal.namespace, cli: temporal.cli },
    kube: { server: kube.server, kubeconfig: kube.kubeconfig, kubectl: kube.kubectl, auditLog: kube.auditLog },
    sushy: sushy ? { url: sushy.url, username: sushy.username, password: sushy.password, systems: sushy.systems } : { url: '', username: '', password: '', systems: [] },
    ...(stack.capi ? { capi: { logs: Object.values(stack.capi.managers).map((m) => m.proc.logFile) } } : {}),
    ipmi: stack.ipmi.map((b, i) => ({ address: b.address, port: b.port, username: b.username, password: b.password, ipmitool: b.ipmitool, stateDir: `${stack.stateDir}/ipmi-${i}` })),
  };
}

export async function teardown(): Promise<void> {
  await Promise.all(stacks.map((stack) => stack.stop()));
  // A build still running when the tests end is waited for: killed halfway, it would be redone next time.
  await serverBuild;
  if (capiBuildAhead) {
    process.stderr.write('[stack capi build ahead] waiting for it to finish (the capi run uses it next)\n');
    await capiBuildAhead;
  }
}
