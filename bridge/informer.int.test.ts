/**
 * The informer against the real kube-apiserver: list, then watch events; and the 410 path. A real apiserver
 * answers 410 Gone when a watch asks for a resourceVersion older than it still keeps (after a long
 * disconnection, or etcd compaction, every 5 minutes by default). We cannot make this apiserver compact on
 * demand, so the test simulates the long disconnection: it holds the informer's next watch back while objects
 * change, then lets it resume from a version the apiserver has long forgotten ("1"). The 410 itself is the
 * real server's answer; the test shows the informer relisting and catching up on what it missed.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from './informer.ts';
import { createKube, type ListWatch } from './kube.ts';
import { asKubeObject, keyOf, type KubeObject } from './objects.ts';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const namespace = unique('informer');
const GROUP = { group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts' };
const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const objects = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);
const kube = createKube({ kubeConfig: kc, qps: 50, burst: 100 });

const body = (name: string) => ({ apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name }, spec: { online: false } });

/** The real list+watch, with a switch that cuts the stream and holds the next watch back. */
class Disconnectable implements ListWatch {
  readonly inner: ListWatch;
  readonly description: string;
  resumeFrom: string | undefined;
  #cut: (() => void) | undefined;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  watchedFrom: string[] = [];
  constructor(inner: ListWatch) {
    this.inner = inner;
    this.description = inner.description;
  }
  list() {
    return this.inner.list();
  }
  async watch(resourceVersion: string, onEvent: Parameters<ListWatch['watch']>[1], signal: AbortSignal) {
    await this.#gate;
    const from = this.resumeFrom ?? resourceVersion;
    this.resumeFrom = undefined;
    this.watchedFrom.push(from);
    const stream = new AbortController();
    const stop = () => stream.abort();
    signal.addEventListener('abort', stop, { once: true });
    this.#cut = stop;
    try {
      await this.inner.watch(from, onEvent, stream.signal);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }
  /** Cuts the current stream; the informer's next watch waits until `reconnect`. */
  disconnect(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
    this.#cut?.();
  }
  reconnect(fromVersion?: string): void {
    this.resumeFrom = fromVersion;
    this.#open?.();
    this.#gate = undefined;
  }
}

let informer: Informer<KubeObject>;
let source: Disconnectable;
const changes: string[] = [];
const lists: { count: number; afterGone: boolean }[] = [];

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await objects.createNamespacedCustomObject({ ...GROUP, body: body('before-start') });
  source = new Disconnectable(kube.hosts.listWatch(namespace));
  informer = new Informer<KubeObject>({
    listWatch: source,
    project: asKubeObject,
    key: keyOf,
    resourceVersion: (o) => o.metadata.resourceVersion ?? '',
    onList: (count, afterGone) => lists.push({ count, afterGone }),
  });
  informer.onChange((kind, o) => changes.push(`${kind} ${o.metadata.name}`));
  informer.start();
  await informer.waitForSync();
});

afterAll(async () => {
  await informer?.stop();
  await core.deleteNamespace({ name: namespace }).catch(() => {});
});

describe('informer on the real apiserver', () => {
  it('lists what exists, then follows adds, updates and deletes', async () => {
    expect(changes).toEqual([`add before-start`]);
    await objects.createNamespacedCustomObject({ ...GROUP, body: body('h1') });
    await objects.patchNamespacedCustomObject({ ...GROUP, name: 'h1', body: { metadata: { labels: { a: 'b' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await objects.deleteNamespacedCustomObject({ ...GROUP, name: 'before-start' });
    await waitFor('the watch events', () => changes.length >= 4);
    expect(changes).toEqual(['add before-start', 'add h1', 'update h1', 'delete before-start']);
    expect(informer.get(`${namespace}/h1`)?.metadata.labels).toEqual({ a: 'b' });
  });

  it('relists after the apiserver answers 410 Gone, and catches up on what it missed', async () => {
    changes.length = 0;
    source.disconnect();
    // While disconnected: one host created, one deleted.
    await objects.createNamespacedCustomObject({ ...GROUP, body: body('missed') });
    await objects.deleteNamespacedCustomObject({ ...GROUP, name: 'h1' });
    // Nothing can arrive while disconnected; a leak would also show below as a change seen twice.
    expect(changes).toEqual([]);
    // Resume from a version the apiserver no longer has: it answers 410 Gone.
    source.reconnect('1');
    await waitFor('the relist after 410', () => informer.relistsAfterGone === 1 && changes.length >= 2);
    expect(source.watchedFrom.at(-2)).toBe('1');
    expect(lists.at(-1)).toEqual({ count: 1, afterGone: true });
    expect(changes.sort()).toEqual(['add missed', 'delete h1']);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['missed']);

    // And it keeps watching from the fresh list.
    await objects.createNamespacedCustomObject({ ...GROUP, body: body('after') });
    await waitFor('the next watch event', () => changes.includes('add after'));
  });
});
