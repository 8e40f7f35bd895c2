/**
 * A watch of one namespace's BareMetalHosts (or of any list path, e.g. a workload cluster's Nodes) that sees
 * every change, in the apiserver's order, and starts again when it ends (the apiserver answers 429 while a new
 * CRD's watch cache fills; a restarted apiserver closes it). Tests, the fleet benchmark and the chaos run
 * observe hosts through it, as a user would.
 */
import * as k8s from '@kubernetes/client-node';

/** Watches the BareMetalHosts of `namespace`, calling `onEvent` for each change. Resolves once watching; call the result to stop. */
export function watchHosts<T extends { metadata: { name: string; resourceVersion?: string } }>(
  kc: k8s.KubeConfig,
  namespace: string,
  onEvent: (type: string, host: T) => void,
): Promise<() => void> {
  return watchObjects(kc, `/apis/metal3.io/v1alpha1/namespaces/${namespace}/baremetalhosts`, onEvent);
}

/** Watches the objects listed at `path` (e.g. `/api/v1/nodes`), calling `onEvent` for each change. Resolves once watching; call the result to stop. */
export async function watchObjects<T extends { metadata?: { resourceVersion?: string } }>(
  kc: k8s.KubeConfig,
  path: string,
  onEvent: (type: string, object: T) => void,
): Promise<() => void> {
  let request: AbortController | undefined;
  let watching = true;
  // A restarted watch resumes after the last change it delivered, so no status written meanwhile is missed;
  // when the apiserver no longer has that version (410 Gone) or refuses, it starts from a fresh list.
  let resumeFrom: string | undefined;
  const deliver = (type: string, object: T) => {
    if (type === 'ERROR') {
      resumeFrom = undefined; // a Status, e.g. 410 Gone: the next watch starts from a list
      return;
    }
    if (object.metadata?.resourceVersion) resumeFrom = object.metadata.resourceVersion;
    onEvent(type, object);
  };
  const watch = async (): Promise<void> => {
    if (!watching) return;
    const restart = (error?: unknown) => {
      // A connection error (the apiserver restarting) keeps the version; an expired one is dropped.
      if (error && /\b410\b|Gone|[Ee]xpired/.test(String(error))) resumeFrom = undefined;
      setTimeout(() => void watch().catch(() => {}), 300);
    };
    request = await new k8s.Watch(kc)
      .watch(path, resumeFrom ? { resourceVersion: resumeFrom } : {}, deliver, restart)
      .catch((error: unknown) => (restart(error), undefined));
  };
  await watch();
  return () => {
    watching = false;
    request?.abort();
  };
}
