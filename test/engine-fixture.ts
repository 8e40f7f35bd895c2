/**
 * For end-to-end tests of Tempered's real processes: the engine (worker and bridge) on the shared stack,
 * isolated by its own task queues, Lease and watched namespace, and a watch of the namespace's
 * BareMetalHosts that sees every status they show, in the apiserver's order.
 */
import { join } from 'node:path';
import type { LoadedDataConverter } from '@temporalio/common';
import { startEngine, type Engine, type EngineOptions } from '../stack/engine.ts';
import { clientDataConverter, keyringFromEnv, protectionFromKeyring } from '../workers/data-converter.ts';

/** What the shared stack provides (test/stack-info.ts `sharedStack()`). */
interface StackHandle {
  temporal: { address: string; namespace: string };
  kube: { kubeconfig: string };
}

/**
 * Starts the engine for one test file: task queues and Lease named after `run`, watching `namespace` only;
 * `options` adds to that (encryption, or more workers and bridges, say). A test with a Temporal of its own
 * passes it as `stack.temporal`.
 */
export function startTestEngine(
  stack: StackHandle,
  dir: string,
  run: string,
  namespace: string,
  env: NodeJS.ProcessEnv = {},
  options: Pick<EngineOptions, 'encryption' | 'workers' | 'bridges'> = {},
): Promise<Engine> {
  return startEngine({
    ...options,
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

/** The hosts watch lives with the stack (the fleet benchmark and the chaos run use it too). */
export { watchHosts, watchObjects } from '../stack/watch-hosts.ts';

/** The data converter a test client needs to read what the engine's processes wrote (their keys, if any). */
export function engineDataConverter(engine: Pick<Engine, 'keysFile'>): LoadedDataConverter {
  const keyring = engine.keysFile ? keyringFromEnv({ TEMPERED_ENCRYPTION_KEYS_FILE: engine.keysFile }) : undefined;
  return clientDataConverter(protectionFromKeyring(keyring));
}
