import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { HostDesired } from '../domain/host-model.ts';
import type { ResourceClient } from './kube.ts';
import { HOST_FINALIZER, keyOf, type HostObject, type KubeObject, type SecretView } from './objects.ts';
import { HostReconciler, mayChangeDesired, missingSecretRetryMs, type SendReason } from './reconcile.ts';

const STATUS = { lastUpdated: '2026-01-01T00:00:00Z', operationalStatus: 'OK', provisioning: { state: 'available', ID: 'uid-0' } };

/** An in-memory apiserver for one resource: merge patches with a resourceVersion precondition. */
class FakeHosts {
  objects = new Map<string, HostObject>();
  rv = 100;
  patches = 0;
  put(host: HostObject): HostObject {
    const stored = structuredClone({ ...host, metadata: { ...host.metadata, resourceVersion: String(++this.rv) } });
    this.objects.set(keyOf(stored), stored);
    return stored;
  }
  client(): Pick<ResourceClient, 'update'> {
    return {
      update: async (namespace, name, mutate, current) => {
        const stored = this.objects.get(`${namespace}/${name}`);
        if (!stored) return undefined;
        const patch = mutate(current ?? stored);
        if (!patch) return stored;
        this.patches++;
        const { annotations: patchAnnotations, ...rest } = patch['metadata'] as { annotations?: Record<string, string | null> };
        const annotations = { ...stored.metadata.annotations };
        for (const [k, v] of Object.entries(patchAnnotations ?? {})) {
          if (v === null) delete annotations[k];
          else annotations[k] = v;
        }
        const metadata = { ...stored.metadata, ...rest, ...(patchAnnotations ? { annotations } : {}) };
        return this.put({ ...stored, metadata } as HostObject);
      },
    };
  }
}

function setup(options: { failSend?: () => boolean } = {}) {
  const hosts = new FakeHosts();
  /** What the watch (labelled Secrets only) has, and Secrets that exist unlabelled. */
  const secrets = new Map<string, SecretView>([['ns/bmc', { namespace: 'ns', name: 'bmc', resourceVersion: '7', hasUsername: true, hasPassword: true }]]);
  const unlabelled = new Map<string, SecretView>();
  const claims: string[] = [];
  const sent: { desired: HostDesired; why: SendReason }[] = [];
  const reconciler = new HostReconciler({
    hosts: { get: (k) => hosts.objects.get(k) },
    secrets: { get: (k) => secrets.get(k) },
    claimSecret: async (namespace, name) => {
      const key = `${namespace}/${name}`;
      claims.push(key);
      const found = unlabelled.get(key) ?? secrets.get(key);
      if (!found) return undefined;
      // Labelling writes the Secret: a new resourceVersion (the watch delivers it later).
      unlabelled.delete(key);
      return { ...found, resourceVersion: String(Number(found.resourceVersion) + 1) };
    },
    kube: hosts.client(),
    logger: pino({ level: 'silent' }),
    send: async (desired, why) => {
      if (options.failSend?.()) throw new Error('temporal unavailable');
      sent.push({ desired: structuredClone(desired), why });
    },
  });
  const host = (overrides: Partial<HostObject> & { annotations?: Record<string, string> } = {}): HostObject =>
    hosts.put({
      apiVersion: 'metal3.io/v1alpha1',
      kind: 'BareMetalHost',
      metadata: { name: 'h0', namespace: 'ns', uid: 'uid-0', generation: 1, ...(overrides.annotations ? { annotations: overrides.annotations } : {}), ...overrides.metadata },
      spec: { online: true, bmc: { address: 'ipmi://10.0.0.1', credentialsName: 'bmc' } },
      ...(overrides.status ? { status: overrides.status } : {}),
      ...(overrides.spec ? { spec: overrides.spec } : {}),
    });
  return { hosts, secrets, unlabelled, claims, sent, reconciler, host };
}

describe('HostReconciler', () => {
  it('adds the finalizer and sends the first desired state, adopting an existing status', async () => {
    const t = setup();
    t.host({ status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    expect(t.hosts.objects.get('ns/h0')?.metadata.finalizers).toEqual([HOST_FINALIZER]);
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]?.why).toBe('first');
    expect(t.sent[0]?.desired.adoptStatus).toEqual(STATUS);
    expect(t.sent[0]?.desired.credentials).toEqual({ name: 'bmc', version: '7' });
  });

  it('sends nothing when nothing the workflow acts on changed', async () => {
    const t = setup();
    const h = t.host({ status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    // A status write of ours and a resync.
    t.hosts.put({ ...(t.hosts.objects.get('ns/h0') as HostObject), status: { ...STATUS, lastUpdated: '2026-01-02T00:00:00Z', poweredOn: true } });
    await t.reconciler.reconcile('ns/h0');
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent).toHaveLength(1);
    expect(t.reconciler.counters.unchanged).toBe(2);
    expect(h.metadata.uid).toBe('uid-0');
  });

  it.each([
    ['a spec change', (t: ReturnType<typeof setup>) => t.hosts.put({ ...(t.hosts.objects.get('ns/h0') as HostObject), spec: { online: false, bmc: { address: 'ipmi://10.0.0.1', credentialsName: 'bmc' } } })],
    ['an annotation change', (t: ReturnType<typeof setup>) => {
      const h = t.hosts.objects.get('ns/h0') as HostObject;
      t.hosts.put({ ...h, metadata: { ...h.metadata, annotations: { 'reboot.metal3.io': '' } } });
    }],
    ['a Secret update', (t: ReturnType<typeof setup>) => t.secrets.set('ns/bmc', { namespace: 'ns', name: 'bmc', resourceVersion: '8', hasUsername: true, hasPassword: true })],
    ['deletion', (t: ReturnType<typeof setup>) => {
      const h = t.hosts.objects.get('ns/h0') as HostObject;
      t.hosts.put({ ...h, metadata: { ...h.metadata, deletionTimestamp: '2026-01-03T00:00:00Z' } });
    }],
  ])('sends exactly one signal for %s', async (_s, change) => {
    const t = setup();
    t.host({ status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    change(t);
    await t.reconciler.reconcile('ns/h0');
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent.map((s) => s.why)).toEqual(['first', 'changed']);
    expect(t.sent[1]?.desired.adoptStatus).toBeUndefined();
  });

  it('reports a lost status once, and again after it was rebuilt and lost again', async () => {
    const t = setup();
    t.host({ status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    const lose = () => {
      const { status: _s, ...rest } = t.hosts.objects.get('ns/h0') as HostObject;
      t.hosts.put(rest as HostObject);
    };
    lose();
    await t.reconciler.reconcile('ns/h0');
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent.map((s) => [s.why, s.desired.statusMissing])).toEqual([['first', false], ['status-missing', true]]);
    // The workflow republished: no signal for the status coming back.
    t.hosts.put({ ...(t.hosts.objects.get('ns/h0') as HostObject), status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent).toHaveLength(2);
    lose();
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent.map((s) => s.why)).toEqual(['first', 'status-missing', 'status-missing']);
  });

  it('a new host (no status yet) gets one signal, not a second one when its first status appears', async () => {
    const t = setup();
    t.host();
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent[0]?.desired.statusMissing).toBe(true);
    t.hosts.put({ ...(t.hosts.objects.get('ns/h0') as HostObject), status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent).toHaveLength(1);
  });

  it('removes a stale status annotation from a host that has a status (BMO)', async () => {
    const t = setup();
    t.host({ status: STATUS, annotations: { 'baremetalhost.metal3.io/status': '{"operationalStatus":"OK"}', keep: 'me' } });
    await t.reconciler.reconcile('ns/h0');
    expect(t.hosts.objects.get('ns/h0')?.metadata.annotations).toEqual({ keep: 'me' });
    expect(t.sent[0]?.desired.restoredStatus).toBeUndefined();
  });

  it('does not take a paused host (no finalizer) but tells the workflow', async () => {
    const t = setup();
    t.host({ annotations: { 'baremetalhost.metal3.io/paused': 'metal3.io/capm3' } });
    await t.reconciler.reconcile('ns/h0');
    expect(t.hosts.objects.get('ns/h0')?.metadata.finalizers).toBeUndefined();
    expect(t.sent[0]?.desired.annotations.paused).toBe(true);
  });

  it('leaves a deleting host that does not carry our finalizer alone', async () => {
    const t = setup();
    t.host({ metadata: { name: 'h0', namespace: 'ns', uid: 'uid-0', deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['other'] } });
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent).toHaveLength(0);
    expect(t.hosts.patches).toBe(0);
  });

  it('starts over for a re-created object of the same name', async () => {
    const t = setup();
    t.host({ status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    t.hosts.objects.delete('ns/h0');
    await t.reconciler.reconcile('ns/h0');
    t.host({ metadata: { name: 'h0', namespace: 'ns', uid: 'uid-1' } });
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent.map((s) => [s.why, s.desired.ref.uid])).toEqual([['first', 'uid-0'], ['first', 'uid-1']]);
    expect(t.reconciler.sentGeneration('ns/h0', 'uid-1')).toBe(1);
    expect(t.reconciler.sentGeneration('ns/h0', 'uid-0')).toBeUndefined();
  });

  it('waits for a change when the spec cannot be read', async () => {
    const t = setup();
    t.host({ spec: { online: 'sometimes' } });
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent).toHaveLength(0);
  });

  it('throws when the signal fails (the queue retries) and sends on the next pass', async () => {
    let fail = true;
    const t = setup({ failSend: () => fail });
    t.host({ status: STATUS });
    await expect(t.reconciler.reconcile('ns/h0')).rejects.toThrow('temporal unavailable');
    fail = false;
    await t.reconciler.reconcile('ns/h0');
    expect(t.sent.map((s) => s.why)).toEqual(['first']);
  });

  it('labels a credentials Secret the watch does not have yet, once, and sends its labelled version', async () => {
    const t = setup();
    t.secrets.clear();
    t.unlabelled.set('ns/bmc', { namespace: 'ns', name: 'bmc', resourceVersion: '7', hasUsername: true, hasPassword: true });
    t.host({ status: STATUS });
    expect(await t.reconciler.reconcile('ns/h0')).toBeUndefined();
    expect(t.claims).toEqual(['ns/bmc']);
    expect(t.sent[0]?.desired.credentials).toEqual({ name: 'bmc', version: '8' });
    // The watch delivers the labelled Secret: the same version, nothing more to send or label.
    t.secrets.set('ns/bmc', { namespace: 'ns', name: 'bmc', resourceVersion: '8', hasUsername: true, hasPassword: true });
    await t.reconciler.reconcile('ns/h0');
    expect(t.claims).toEqual(['ns/bmc']);
    expect(t.sent).toHaveLength(1);
  });

  it('does not touch a Secret the watch already has', async () => {
    const t = setup();
    t.host({ status: STATUS });
    await t.reconciler.reconcile('ns/h0');
    expect(t.claims).toEqual([]);
  });

  it('a missing Secret is reported and looked for again with a backoff until it appears', async () => {
    const t = setup();
    t.secrets.clear();
    t.host({ status: STATUS });
    expect(await t.reconciler.reconcile('ns/h0')).toEqual({ requeueAfterMs: missingSecretRetryMs(1) });
    expect(t.sent[0]?.desired.credentials).toEqual({ name: 'bmc', problem: 'the BMC credentials Secret ns/bmc does not exist' });
    expect(await t.reconciler.reconcile('ns/h0')).toEqual({ requeueAfterMs: missingSecretRetryMs(2) });
    expect(t.sent).toHaveLength(1);
    // Created later, unlabelled: no watch would tell the bridge; the retry finds it.
    t.unlabelled.set('ns/bmc', { namespace: 'ns', name: 'bmc', resourceVersion: '20', hasUsername: true, hasPassword: true });
    expect(await t.reconciler.reconcile('ns/h0')).toBeUndefined();
    expect(t.sent.map((s) => s.why)).toEqual(['first', 'changed']);
    expect(t.sent[1]?.desired.credentials).toEqual({ name: 'bmc', version: '21' });
  });

  it('the missing-Secret backoff doubles from 2 s and stops at 5 minutes', () => {
    expect([1, 2, 3, 4, 9, 10, 30].map(missingSecretRetryMs)).toEqual([2000, 4000, 8000, 16_000, 300_000, 300_000, 300_000]);
  });

  it('ignores objects it has never seen (deleted before the reconcile ran)', async () => {
    const t = setup();
    await t.reconciler.reconcile('ns/gone');
    expect(t.sent).toHaveLength(0);
  });
});

describe('mayChangeDesired (which watch updates are worth a reconcile)', () => {
  const base: HostObject = { metadata: { name: 'h', namespace: 'ns', uid: 'u', generation: 1, resourceVersion: '1', annotations: { a: '1' }, finalizers: ['f'] }, status: STATUS };
  const meta = (m: Partial<HostObject['metadata']>): HostObject => ({ ...base, metadata: { ...base.metadata, resourceVersion: '2', ...m } });
  it.each([
    ['a status write (ours)', { ...base, metadata: { ...base.metadata, resourceVersion: '2' }, status: { ...STATUS, poweredOn: true } }, false],
    ['a label change', meta({ labels: { x: 'y' } }), false],
    ['a spec change', meta({ generation: 2 }), true],
    ['an annotation change', meta({ annotations: { a: '2' } }), true],
    ['a finalizer change', meta({ finalizers: [] }), true],
    ['deletion', meta({ deletionTimestamp: '2026-01-01T00:00:00Z' }), true],
    ['the status deleted', { ...base, metadata: { ...base.metadata, resourceVersion: '2' }, status: undefined }, true],
  ])('%s: %s', (_s, next, expected) => {
    expect(mayChangeDesired(base, next as HostObject)).toBe(expected);
  });
});

describe('FakeHosts', () => {
  it('is a faithful enough apiserver for these tests: update applies the mutation', async () => {
    const f = new FakeHosts();
    f.put({ metadata: { name: 'x', namespace: 'ns' } } as KubeObject);
    const updated = await f.client().update('ns', 'x', () => ({ metadata: { finalizers: ['f'] } }));
    expect(updated?.metadata.finalizers).toEqual(['f']);
  });
});
