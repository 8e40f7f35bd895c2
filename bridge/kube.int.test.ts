/**
 * bridge/kube.ts against the real kube-apiserver: optimistic concurrency (a real 409 from a stale
 * resourceVersion, retried with a fresh read), the client-side request budget, and the Lease calls
 * (MicroTime timestamps, conflicts on a stale version).
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKube } from './kube.ts';
import { unique } from '../test/support.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const namespace = unique('kube');
const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});
afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => {});
});

describe('kube client on the real apiserver', () => {
  it('retries a conflicting write with a fresh read, keeping the other writer’s change', async () => {
    const kube = createKube({ kubeConfig: kc, qps: 50, burst: 100 });
    const created = await kube.hosts.create(namespace, { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name: 'h' }, spec: { online: false } });
    // Someone else adds a finalizer after we read the object.
    await kube.hosts.update(namespace, 'h', () => ({ metadata: { finalizers: ['example.com/other'] } }));
    const updated = await kube.hosts.update(namespace, 'h', (cur) => ({ metadata: { finalizers: [...(cur.metadata.finalizers ?? []), 'baremetalhost.metal3.io'] } }), created);
    expect(updated?.metadata.finalizers).toEqual(['example.com/other', 'baremetalhost.metal3.io']);
    expect(kube.counters.conflicts).toBe(1);
    // Clean up so the namespace can go.
    await kube.hosts.update(namespace, 'h', () => ({ metadata: { finalizers: [] } }));
    expect(await kube.hosts.delete(namespace, 'h')).toBe(true);
    expect(await kube.hosts.delete(namespace, 'h')).toBe(false);
  });

  it('spends requests within the budget (qps 5, burst 2)', async () => {
    const kube = createKube({ kubeConfig: kc, qps: 5, burst: 2 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 7 }, () => kube.hosts.get(namespace, 'absent')));
    // 2 at once, then one every 200 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(kube.counters.reads).toBe(7);
  });

  it('reads and writes a Lease with microsecond times, refusing a stale version', async () => {
    const kube = createKube({ kubeConfig: kc, qps: 50, burst: 100 });
    const lease = kube.lease(namespace, 'test-lease');
    expect(await lease.get()).toBeUndefined();
    const now = new Date().toISOString();
    const created = await lease.create({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 });
    expect(created).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: now, leaseTransitions: 0 });
    const raw = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ namespace, name: 'test-lease' });
    expect(raw.spec?.holderIdentity).toBe('a');
    const renewed = await lease.update({ ...created, renewTime: new Date().toISOString() });
    expect(renewed.resourceVersion).not.toBe(created.resourceVersion);
    const stale = await lease.update({ ...created, holderIdentity: 'b' }).catch((e: unknown) => e);
    expect(stale).toMatchObject({ code: 409 });
  });
});
