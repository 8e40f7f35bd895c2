import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { HostState, StatusPublication } from '../domain/host-model.ts';
import { createBridgeActivities } from './activities.ts';
import type { EventBody } from './events.ts';
import type { FirmwareObjects } from './firmware.ts';
import { HostCache } from './host-cache.ts';
import type { BridgeMetrics } from './metrics.ts';
import { KubeError, type Kube, type ResourceClient } from './kube.ts';
import type { HostObject, KubeObject } from './objects.ts';
import { ProvisioningLimiter } from './provisioning-limit.ts';

const state: HostState = {
  provisioningState: 'available',
  operationalStatus: 'OK',
  errorType: '',
  errorMessage: '',
  errorCount: 0,
  poweredOn: false,
  provisioningId: 'uid-0',
  operationHistory: { register: {}, inspect: {}, provision: {}, deprovision: {} },
  provisioningFailCount: 0,
  consumedAnnotations: [],
  deleteAttempts: 0,
  detached: false,
};
const ref = { namespace: 'ns', name: 'h', uid: 'uid-0' };
const publication = (overrides: Partial<StatusPublication> = {}): StatusPublication => ({ ref, state, events: [], removeAnnotations: [], ...overrides });

/** RFC 7386, as the apiserver applies a merge patch. */
function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/** Just enough of a ResourceClient: an in-memory store that records writes, with a switch to fail. */
function fakeResource(initial?: KubeObject) {
  const store = new Map<string, KubeObject>(initial ? [[`${initial.metadata.namespace}/${initial.metadata.name}`, initial]] : []);
  const writes: string[] = [];
  let failWith: KubeError | undefined;
  const check = () => {
    if (failWith) throw failWith;
  };
  const client: ResourceClient = {
    listWatch: () => {
      throw new Error('not used');
    },
    get: async (ns, name) => (check(), store.get(`${ns}/${name}`)),
    create: async (ns, body) => {
      check();
      writes.push('create');
      const object = { ...body, metadata: { ...(body['metadata'] as object), namespace: ns } } as KubeObject;
      if (store.has(`${ns}/${object.metadata.name}`)) throw new KubeError(409, 'AlreadyExists', `${object.metadata.name} already exists`);
      store.set(`${ns}/${object.metadata.name}`, object);
      return object;
    },
    patch: async (ns, name, patch) => {
      check();
      writes.push(`patch ${JSON.stringify(patch)}`);
      const current = store.get(`${ns}/${name}`);
      if (!current) return undefined;
      const annotations = { ...current.metadata.annotations };
      for (const [k, v] of Object.entries(((patch['metadata'] as { annotations?: Record<string, string | null> }) ?? {}).annotations ?? {})) {
        if (v === null) delete annotations[k];
        else annotations[k] = v;
      }
      const next = { ...current, metadata: { ...current.metadata, annotations } };
      store.set(`${ns}/${name}`, next);
      return next;
    },
    patchStatus: async (ns, name, patch) => {
      check();
      writes.push('status');
      const current = store.get(`${ns}/${name}`);
      if (!current) return undefined;
      const next = { ...current, status: applyMergePatch(current['status'], patch['status']), metadata: { ...current.metadata, resourceVersion: `${Number(current.metadata.resourceVersion ?? 0) + 1}` } };
      store.set(`${ns}/${name}`, next);
      return next;
    },
    delete: async (ns, name) => (check(), writes.push('delete'), store.delete(`${ns}/${name}`)),
    update: async (ns, name, mutate) => {
      check();
      const current = store.get(`${ns}/${name}`);
      if (!current) return undefined;
      const patch = mutate(current);
      if (!patch) return current;
      writes.push(`update ${JSON.stringify(patch)}`);
      const next = applyMergePatch(current, patch) as KubeObject;
      store.set(`${ns}/${name}`, next);
      return next;
    },
  };
  return { client, store, writes, fail: (e: KubeError | undefined) => (failWith = e) };
}

function setup(host?: HostObject, limit?: ProvisioningLimiter, firmware?: Pick<FirmwareObjects, 'publish'>, metrics?: Pick<BridgeMetrics, 'published'>) {
  const hosts = fakeResource(host);
  const hardwareData = fakeResource();
  const events: EventBody[] = [];
  const logs: { level: number; problems?: string[] }[] = [];
  let eventsFail = false;
  const kube: Pick<Kube, 'hosts' | 'hardwareData' | 'createEvent'> = {
    hosts: hosts.client,
    hardwareData: hardwareData.client,
    createEvent: async (e) => {
      if (eventsFail) throw new KubeError(500, 'InternalError', 'events are down');
      events.push(e);
    },
  };
  const { activities, eventsIdle } = createBridgeActivities({
    kube,
    hosts: new HostCache({ get: () => undefined }),
    sentGeneration: () => undefined,
    identity: 'bridge-test',
    logger: pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { level: number; problems?: string[] }) }),
    now: () => new Date('2026-05-01T12:00:00.500Z'),
    ...(limit ? { slots: { limiter: limit, offerFree: () => offered.push(...limit.offers()) } } : {}),
    ...(firmware ? { firmware: () => firmware as FirmwareObjects } : {}),
    ...(metrics ? { metrics } : {}),
  });
  const offered: string[] = [];
  return { activities, eventsIdle, hosts, hardwareData, events, logs, offered, failEvents: () => (eventsFail = true) };
}

const liveHost = (extra: Partial<HostObject['metadata']> = {}): HostObject => ({
  apiVersion: 'metal3.io/v1alpha1',
  kind: 'BareMetalHost',
  metadata: { name: 'h', namespace: 'ns', uid: 'uid-0', generation: 4, resourceVersion: '10', ...extra },
  spec: { online: true, consumerRef: { kind: 'Metal3Machine', name: 'm', namespace: 'ns' } },
});

describe('publishStatus', () => {
  it('writes once, then not again for the same state', async () => {
    const t = setup(liveHost());
    expect(await t.activities.publishStatus(publication())).toEqual({ written: true });
    const status = t.hosts.store.get('ns/h')?.['status'] as Record<string, unknown>;
    expect(status['lastUpdated']).toBe('2026-05-01T12:00:00Z');
    expect((status['conditions'] as { observedGeneration: number }[])[0]?.observedGeneration).toBe(4);
    expect(await t.activities.publishStatus(publication())).toEqual({ written: false });
    expect(t.hosts.writes).toEqual(['status']);
  });

  it('is a success with nothing written when the host is gone or was re-created', async () => {
    const gone = setup();
    expect(await gone.activities.publishStatus(publication())).toEqual({ written: false });
    const recreated = setup(liveHost({ uid: 'uid-1' }));
    expect(await recreated.activities.publishStatus(publication({ events: [{ type: 'Normal', reason: 'X', message: 'y' }] }))).toEqual({ written: false });
    expect(recreated.hosts.writes).toEqual([]);
    await recreated.eventsIdle();
    expect(recreated.events).toEqual([]);
  });

  it('removes only consumed annotations that are present, and records events as BMO does', async () => {
    const t = setup(liveHost({ annotations: { 'inspect.metal3.io': '', keep: 'me' } }));
    await t.activities.publishStatus(publication({ removeAnnotations: ['inspect.metal3.io', 'reboot.metal3.io'], events: [{ type: 'Warning', reason: 'InspectionError', message: 'the BMC said no' }] }));
    await t.eventsIdle(); // Events go out in the background, after the status
    expect(t.hosts.store.get('ns/h')?.metadata.annotations).toEqual({ keep: 'me' });
    expect(t.hosts.writes.filter((w) => w.startsWith('patch'))).toEqual(['patch {"metadata":{"annotations":{"inspect.metal3.io":null}}}']);
    expect(t.events).toEqual([
      expect.objectContaining({
        reason: 'InspectionError',
        type: 'Warning',
        message: 'the BMC said no',
        source: { component: 'metal3-baremetal-controller' },
        reportingComponent: 'metal3.io/baremetal-controller',
        reportingInstance: 'bridge-test',
        involvedObject: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', namespace: 'ns', name: 'h', uid: 'uid-0' },
        related: { kind: 'Metal3Machine', name: 'm', namespace: 'ns' },
        metadata: { generateName: 'h.', namespace: 'ns' },
      }),
    ]);
  });

  it('does not fail (or repeat the status write) when events cannot be recorded', async () => {
    const t = setup(liveHost());
    t.failEvents();
    expect(await t.activities.publishStatus(publication({ events: [{ type: 'Normal', reason: 'X', message: 'y' }] }))).toEqual({ written: true });
    await t.eventsIdle();
    expect(t.logs.some((l) => (l as { msg?: string }).msg === 'could not record event')).toBe(true);
  });

  it('writes only the newest state of a batch, once; Events of every state passed go after it, and each passed state counts as a state change', async () => {
    const published: { states?: string[] }[] = [];
    const t = setup(liveHost({ annotations: { 'inspect.metal3.io': '', keep: 'me' } }), undefined, undefined, { published: (_p, outcome) => void published.push(outcome) });
    const seen: string[] = [];
    const patchStatus = t.hosts.client.patchStatus;
    t.hosts.client.patchStatus = async (ns, name, patch) => {
      seen.push(((patch['status'] as { provisioning?: { state?: string } }).provisioning?.state) ?? '?');
      return patchStatus(ns, name, patch);
    };
    const step = (provisioningState: HostState['provisioningState'], reason: string, removeAnnotations: string[] = []) => ({ state: { ...state, provisioningState }, events: [{ type: 'Normal' as const, reason, message: reason }], removeAnnotations });
    const result = await t.activities.publishStatus({ ref, ...step('available', 'Available'), earlier: [step('inspecting', 'InspectionStarted', ['inspect.metal3.io']), step('preparing', 'InspectionComplete')] });
    expect(result).toEqual({ written: true });
    expect(seen).toEqual(['available']);
    expect(t.hosts.writes).toEqual(['status', 'patch {"metadata":{"annotations":{"inspect.metal3.io":null}}}']); // an earlier snapshot's consumed annotation too
    await t.eventsIdle();
    expect(t.events.map((e) => e.reason)).toEqual(['InspectionStarted', 'InspectionComplete', 'Available']);
    expect(published).toEqual([expect.objectContaining({ result: 'written', states: ['inspecting', 'preparing', 'available'] })]);
    const written = t.logs.find((l) => (l as { msg?: string }).msg === 'status written') as { state?: string; passed?: string[] } | undefined;
    expect(written).toMatchObject({ state: 'available', passed: ['inspecting', 'preparing'] });
  });

  it('emits no Event of a batch when its status write fails, and its retry writes it and sends them once', async () => {
    const t = setup(liveHost());
    let calls = 0;
    const patchStatus = t.hosts.client.patchStatus;
    t.hosts.client.patchStatus = async (ns, name, patch) => {
      if (++calls === 1) throw new KubeError(503, 'ServiceUnavailable', 'apiserver restarting');
      return patchStatus(ns, name, patch);
    };
    const step = (provisioningState: HostState['provisioningState'], reason: string) => ({ state: { ...state, provisioningState }, events: [{ type: 'Normal' as const, reason, message: reason }], removeAnnotations: [] });
    const batch: StatusPublication = { ref, ...step('provisioning', 'B'), earlier: [step('available', 'A')] };
    await expect(t.activities.publishStatus(batch)).rejects.toMatchObject({ type: 'KubernetesUnavailable' });
    await t.eventsIdle();
    expect(t.events).toEqual([]);
    expect(await new MockActivityEnvironment({ attempt: 2 }).run(t.activities.publishStatus, batch)).toEqual({ written: true });
    expect(t.hosts.store.get('ns/h')?.['status']).toMatchObject({ provisioning: { state: 'provisioning' } });
    await t.eventsIdle();
    expect(t.events.map((e) => e.reason)).toEqual(['A', 'B']);
  });

  it('does not write the status again on a retry after its side writes failed, and sends the Events once', async () => {
    const t = setup(liveHost());
    const step = (provisioningState: HostState['provisioningState'], reason: string, extra: Partial<StatusPublication> = {}) => ({ state: { ...state, provisioningState }, events: [{ type: 'Normal' as const, reason, message: reason }], removeAnnotations: [], ...extra });
    const batch: StatusPublication = { ref, ...step('available', 'B'), earlier: [step('preparing', 'A', { hardwareData: { ramMebibytes: 1024 } })] };
    t.hardwareData.fail(new KubeError(503, 'ServiceUnavailable', 'apiserver restarting'));
    await expect(t.activities.publishStatus(batch)).rejects.toMatchObject({ type: 'KubernetesUnavailable' });
    expect(t.hosts.writes).toEqual(['status']);
    t.hardwareData.fail(undefined);
    expect(await new MockActivityEnvironment({ attempt: 2 }).run(t.activities.publishStatus, batch)).toEqual({ written: false });
    expect(t.hosts.writes).toEqual(['status']);
    expect(t.hardwareData.store.get('ns/h')?.['spec']).toEqual({ hardware: { ramMebibytes: 1024 } });
    await t.eventsIdle();
    expect(t.events.map((e) => e.reason)).toEqual(['A', 'B']);
  });

  it("writes a batch's status beside its HardwareData, and ends only when both are written", async () => {
    const t = setup(liveHost());
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const create = t.hardwareData.client.create;
    t.hardwareData.client.create = async (ns, body) => {
      order.push('HardwareData started');
      await gate;
      const made = await create(ns, body);
      order.push('HardwareData written');
      return made;
    };
    const patchStatus = t.hosts.client.patchStatus;
    t.hosts.client.patchStatus = async (ns, name, patch) => {
      const written = await patchStatus(ns, name, patch);
      order.push(`status ${(patch['status'] as { provisioning?: { state?: string } }).provisioning?.state}`);
      return written;
    };
    const step = (provisioningState: HostState['provisioningState'], extra: Partial<StatusPublication> = {}) => ({ state: { ...state, provisioningState }, events: [], removeAnnotations: [], ...extra });
    let ended = false;
    const publishing = t.activities.publishStatus({ ref, ...step('available'), earlier: [step('preparing', { hardwareData: { ramMebibytes: 1024 } })] }).finally(() => (ended = true));
    await vi.waitFor(() => expect(order).toEqual(['HardwareData started', 'status available']));
    expect(ended).toBe(false); // held by the HardwareData write still in flight
    release();
    expect(await publishing).toEqual({ written: true });
    expect(order.at(-1)).toBe('HardwareData written');
  });

  it("writes a batch's HardwareData beside an earlier snapshot's firmware objects, and ends only when both are written", async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const t = setup(liveHost(), undefined, {
      publish: async () => {
        order.push('firmware started');
        await gate;
        order.push('firmware written');
        return { schemaMissing: false };
      },
    });
    const create = t.hardwareData.client.create;
    t.hardwareData.client.create = async (ns, body) => {
      const made = await create(ns, body);
      order.push('HardwareData written');
      return made;
    };
    const step = (provisioningState: HostState['provisioningState'], extra: Partial<StatusPublication> = {}) => ({ state: { ...state, provisioningState }, events: [], removeAnnotations: [], ...extra });
    const reading = { reading: { components: [{ component: 'bios', version: '1.0' }] }, flashed: [] };
    let ended = false;
    const publishing = t.activities
      .publishStatus({ ref, ...step('available', { hardwareData: { ramMebibytes: 1024 } }), earlier: [step('inspecting', { firmware: reading })] })
      .finally(() => (ended = true));
    // Different objects: the HardwareData does not wait for the firmware objects of the snapshot before it.
    await vi.waitFor(() => expect(order).toEqual(['firmware started', 'HardwareData written']));
    expect(ended).toBe(false);
    release();
    expect(await publishing).toEqual({ written: true });
    expect(order.at(-1)).toBe('firmware written');
  });

  it('keeps the side writes of a batch in order, and a failed one fails the publication after its status writes', async () => {
    const t = setup(liveHost());
    const step = (provisioningState: HostState['provisioningState'], extra: Partial<StatusPublication> = {}) => ({ state: { ...state, provisioningState }, events: [{ type: 'Normal' as const, reason: provisioningState, message: provisioningState }], removeAnnotations: [], ...extra });
    await t.activities.publishStatus({ ref, ...step('available', { hardwareData: { ramMebibytes: 2048 } }), earlier: [step('preparing', { hardwareData: { ramMebibytes: 1024 } })] });
    // Two readings in one batch: the later one lands last.
    expect(t.hardwareData.store.get('ns/h')?.['spec']).toEqual({ hardware: { ramMebibytes: 2048 } });

    t.hardwareData.fail(new KubeError(503, 'ServiceUnavailable', 'apiserver restarting'));
    await expect(t.activities.publishStatus({ ref, ...step('provisioned'), earlier: [step('provisioning', { hardwareData: { ramMebibytes: 4096 } })] })).rejects.toMatchObject({ type: 'KubernetesUnavailable' });
    expect(t.hosts.store.get('ns/h')?.['status']).toMatchObject({ provisioning: { state: 'provisioned' } });
    await t.eventsIdle();
    expect(t.events.map((e) => e.reason)).toEqual(['preparing', 'available']); // none of the failed batch's: its retry sends them
  });

  it('creates HardwareData with its finalizer and owner, then updates only what changed', async () => {
    const t = setup(liveHost());
    await t.activities.publishStatus(publication({ hardwareData: { ramMebibytes: 1024, hostname: 'old' } }));
    expect(t.hardwareData.store.get('ns/h')).toMatchObject({
      kind: 'HardwareData',
      metadata: { name: 'h', finalizers: ['baremetalhost.metal3.io/hardwareData'], ownerReferences: [{ kind: 'BareMetalHost', name: 'h', uid: 'uid-0' }] },
      spec: { hardware: { ramMebibytes: 1024, hostname: 'old' } },
    });
    await t.activities.publishStatus(publication({ hardwareData: { ramMebibytes: 2048 } }));
    // The second reading: the create is refused (AlreadyExists), then only what changed is written.
    expect(t.hardwareData.writes).toEqual(['create', 'create', 'update {"spec":{"hardware":{"ramMebibytes":2048,"hostname":null}}}']);
    expect(t.hardwareData.store.get('ns/h')?.['spec']).toEqual({ hardware: { ramMebibytes: 2048 } });
    await t.activities.publishStatus(publication({ hardwareData: { ramMebibytes: 2048 } }));
    expect(t.hardwareData.writes).toHaveLength(4); // a refused create, and no update: nothing changed
  });

  it.each([
    ['an unavailable apiserver', new KubeError(503, 'ServiceUnavailable', 'down'), 'KubernetesUnavailable', false],
    ['a conflict left after retries', new KubeError(409, 'Conflict', 'modified'), 'KubernetesConflict', false],
    ['a refused request', new KubeError(403, 'Forbidden', 'no RBAC'), 'KubernetesRejected', false],
  ])('fails with a typed failure for %s', async (_s, error, type, nonRetryable) => {
    const t = setup(liveHost());
    t.hosts.fail(error);
    const failure = await t.activities.publishStatus(publication()).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type, nonRetryable });
  });

  it('writes what fits when part of the state or hardware data does not fit the CRD (and logs the rest)', async () => {
    const t = setup(liveHost());
    const result = await t.activities.publishStatus(publication({ state: { ...state, bootMode: 'BIOS', provisioningState: 'preparing' }, hardwareData: { ramMebibytes: 'lots', hostname: 'h0' } }));
    expect(result).toEqual({ written: true });
    const status = t.hosts.store.get('ns/h')?.['status'] as { provisioning: Record<string, unknown> };
    expect(status.provisioning).toEqual({ state: 'preparing', ID: 'uid-0' });
    expect(t.hardwareData.store.get('ns/h')?.['spec']).toEqual({ hardware: { hostname: 'h0' } });
    expect(t.logs.filter((l) => l.level === 50).map((l) => l.problems)).toEqual([
      [expect.stringMatching(/^status\.provisioning\.bootMode: /)],
      [expect.stringMatching(/^hardware\.ramMebibytes: /)],
    ]);
  });
});

describe('publishStatus: slot claims under the provisioning limit', () => {
  const event = (reason: string) => ({ type: 'Normal' as const, reason, message: reason });
  const claim = (wants: string) =>
    publication({
      state: { ...state, provisioningState: wants },
      events: [event('Registered'), event('ProvisioningStarted')],
      removeAnnotations: ['a', 'inspect.metal3.io'],
      claim: { fallback: { state, events: [event('Registered')], removeAnnotations: ['a'] } },
    });
  const ipmiHost = (uid = 'uid-0'): HostObject => ({ ...liveHost({ uid, annotations: { a: '1', 'inspect.metal3.io': '' } }), spec: { bmc: { address: 'ipmi://10.0.0.1' } } });

  it('a granted claim shows the new state', async () => {
    const limit = new ProvisioningLimiter({ limit: 1 });
    const t = setup(ipmiHost(), limit);
    expect(await t.activities.publishStatus(claim('provisioning'))).toEqual({ written: true });
    expect(t.hosts.store.get('ns/h')?.['status']).toMatchObject({ provisioning: { state: 'provisioning' }, operationalStatus: 'OK' });
    expect(limit.snapshot().holders).toEqual(['ns/h']);
  });

  it('a refused claim shows the state before the move, delayed with the reason, and only what came before it', async () => {
    const limit = new ProvisioningLimiter({ limit: 1 });
    limit.claim('ns/other');
    const t = setup(ipmiHost(), limit);
    const result = await t.activities.publishStatus(claim('provisioning'));
    expect(result).toEqual({ written: true, delayed: expect.stringContaining('1 of 1 hosts') });
    const status = t.hosts.store.get('ns/h')?.['status'] as { conditions: { type: string; message: string }[] };
    expect(status).toMatchObject({ provisioning: { state: 'available' }, operationalStatus: 'delayed' });
    expect(status.conditions.find((c) => c.type === 'Progressing')?.message).toBe(result.delayed);
    await t.eventsIdle();
    expect(t.events.map((e) => e.reason)).toEqual(['Registered']);
    expect(t.hosts.store.get('ns/h')?.metadata.annotations).toEqual({ 'inspect.metal3.io': '' });
    expect(limit.snapshot().waiting).toEqual(['ns/h']);

    // The slot frees: the host is offered it, and its claim is granted.
    limit.observe('ns/other', { state: 'provisioned', delayed: false });
    expect(limit.offers()).toEqual(['ns/h']);
    expect(await t.activities.publishStatus(claim('provisioning'))).toEqual({ written: true });
  });

  it('a host booting virtual media is not counted (as BMO): its claim is granted whatever the count', async () => {
    const limit = new ProvisioningLimiter({ limit: 1 });
    limit.claim('ns/other');
    const t = setup({ ...liveHost(), spec: { bmc: { address: 'redfish-virtualmedia://10.0.0.1/redfish/v1/Systems/1' } } }, limit);
    expect(await t.activities.publishStatus(claim('inspecting'))).toEqual({ written: true });
    expect(limit.snapshot()).toEqual({ holders: ['ns/other'], waiting: [], offered: [] });
  });

  it('a publication that leaves the heavy states frees the slot and offers it', async () => {
    const limit = new ProvisioningLimiter({ limit: 1 });
    const t = setup(ipmiHost(), limit);
    await t.activities.publishStatus(claim('provisioning'));
    limit.claim('ns/next');
    await t.activities.publishStatus(publication({ state: { ...state, provisioningState: 'provisioned' } }));
    expect(t.offered).toEqual(['ns/next']);
  });
});

describe('releaseHost', () => {
  it('removes both finalizers and deletes the HardwareData of a deleting host', async () => {
    const t = setup(liveHost({ deletionTimestamp: '2026-05-01T11:00:00Z', finalizers: ['baremetalhost.metal3.io', 'example.com/keep'] }));
    await t.activities.publishStatus(publication({ hardwareData: { ramMebibytes: 1 } }));
    await t.activities.releaseHost(ref);
    expect(t.hosts.store.get('ns/h')?.metadata.finalizers).toEqual(['example.com/keep']);
    expect(t.hardwareData.store.has('ns/h')).toBe(false);
  });

  it('refuses to release a host that is not being deleted', async () => {
    const t = setup(liveHost({ finalizers: ['baremetalhost.metal3.io'] }));
    expect(await t.activities.releaseHost(ref).catch((e: unknown) => e)).toMatchObject({ type: 'HostNotDeleting', nonRetryable: true });
    expect(t.hosts.store.get('ns/h')?.metadata.finalizers).toEqual(['baremetalhost.metal3.io']);
  });

  it('leaves a re-created host and its HardwareData alone', async () => {
    const t = setup(liveHost({ uid: 'uid-new', deletionTimestamp: '2026-05-01T11:00:00Z', finalizers: ['baremetalhost.metal3.io'] }));
    await t.activities.releaseHost(ref);
    expect(t.hosts.store.get('ns/h')?.metadata.finalizers).toEqual(['baremetalhost.metal3.io']);
  });
});
