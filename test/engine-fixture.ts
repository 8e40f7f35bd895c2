/**
 * For end-to-end tests of Tempered's real processes: the engine (worker and bridge) on the shared stack,
 * isolated by its own task queues, Lease and watched namespace, and a watch of the namespace's
 * BareMetalHosts that sees every status they show, in the apiserver's order.
 */
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startEngine, type Engine } from '../stack/engine.ts';

/** What the shared stack provides (vitest's `inject('stack')`). */
interface StackHandle {
  temporal: { address: string; namespace: string };
  kube: { kubeconfig: string };
}

/** Starts the engine for one test file: task queues and Lease named after `run`, watching `namespace` only. */
export function startTestEngine(stack: StackHandle, dir: string, run: string, namespace: string, env: NodeJS.ProcessEnv = {}): Promise<Engine> {
  return startEngine({
    stateDir: join(dir, 'engine'),
    temporal: stack.temporal,
    kubeconfig: stack.kube.kubeconfig,
    hostTaskQueue: `hosts-${run}`,
    bridgeTaskQueue: `bridge-${run}`,
    watchNamespaces: [namespace],
    leaseName: `bridge-${run}`,
    env,
  });
}

/**
 * Watches the BareMetalHosts of `namespace`, calling `onEvent` for each change; restarted when it ends (the
 * apiserver answers 429 while a new CRD's watch cache fills). Resolves once watching; call the result to stop.
 */
export async function watchHosts<T extends { metadata: { name: string } }>(
  kc: k8s.KubeConfig,
  namespace: string,
  onEvent: (type: string, host: T) => void,
): Promise<() => void> {
  let request: AbortController | undefined;
  let watching = true;
  const watch = async (): Promise<void> => {
    if (!watching) return;
    const restart = () => void setTimeout(() => void watch().catch(() => {}), 300);
    request = await new k8s.Watch(kc)
      .watch(`/apis/metal3.io/v1alpha1/namespaces/${namespace}/baremetalhosts`, {}, onEvent, restart)
      .catch(() => (restart(), undefined));
  };
  await watch();
  return () => {
    watching = false;
    request?.abort();
  };
}
