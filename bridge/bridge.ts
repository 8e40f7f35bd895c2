/**
 * The bridge: campaigns for the Lease and, while it leads, runs the informers (BareMetalHosts and Secrets of
 * the watched namespaces, the hosts' firmware objects, FirmwareRollouts), the reconcile work queues that signal
 * host and rollout workflows, and the Temporal worker that serves the status activities on the bridge task
 * queue. When leadership ends (lost, or `stop`) everything is stopped in reverse order and the next term starts
 * from a fresh list. Connections are the caller's.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { SearchAttributeType, WorkflowIdReusePolicy, defineSearchAttributeKey, type DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { HostDesired } from '../domain/host-model.ts';
import type { RolloutControl } from '../domain/firmware-rollout.ts';
import { BRIDGE_TASK_QUEUE, hostWorkflowId, rolloutWorkflowId } from '../domain/names.ts';
import { HOST_PATCHES } from '../workflows/host-patches.ts';
import { offerSlot, syncHost, syncRollout } from '../workflows/messages.ts';
import { createBridgeActivities, type SlotArbiter } from './activities.ts';
import { FirmwareObjects } from './firmware.ts';
import { firmwareIntentOf, type HfcObject, type HfsObject, type HupObject, type SchemaObject } from './firmware-status.ts';
import { HostCache } from './host-cache.ts';
import { Informer, InformerGroup } from './informer.ts';
import type { Kube } from './kube.ts';
import { LeaderElector } from './leader-election.ts';
import type { BridgeMetrics } from './metrics.ts';
import { cachedObject, credentialsNameOf, keyOf, objectKey, secretView, type HostObject, type SecretView } from './objects.ts';
import { DEFAULT_PROVISIONING_LIMIT, ProvisioningLimiter, slotViewOf } from './provisioning-limit.ts';
import { HostReconciler, mayChangeDesired, type SendReason } from './reconcile.ts';
import { RolloutBridge, type RolloutObject, type RolloutStart } from './rollouts.ts';
import { SchemaOwners, settingsUsing } from './schema-owners.ts';
import { WorkQueue } from './work-queue.ts';

/** Workflow type of the host workflow the bridge starts (a name recorded in history: never renamed). */
export const HOST_WORKFLOW_TYPE = 'hostWorkflow';
/** Workflow type of the rollout workflow of a FirmwareRollout (never renamed). */
export const ROLLOUT_WORKFLOW_TYPE = 'firmwareRolloutWorkflow';

const BmhNamespace = defineSearchAttributeKey('BmhNamespace', SearchAttributeType.KEYWORD);
const BmhName = defineSearchAttributeKey('BmhName', SearchAttributeType.KEYWORD);

export interface BridgeOptions {
  kube: Kube;
  /** `dataConverter` (workers/data-converter.ts) is the bridge worker's; the client carries its own. */
  temporal: { client: Client; connection: NativeConnection; namespace: string; dataConverter?: DataConverter };
  hostTaskQueue: string;
  bridgeTaskQueue: string;
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  /** This bridge's name in the Lease, in Events and as the Temporal worker identity. */
  identity: string;
  lease: { namespace: string; name: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Reconciles in flight at once (BMO_CONCURRENCY). */
  concurrency?: number;
  /** Every host is reconciled again this often (nothing is sent when nothing changed). */
  resyncPeriodMs?: number;
  /**
   * Extra `config` for host workflows this bridge starts (their `HostWorkflowInput.config`); the bridge task
   * queue is added when it is not the default one, so the workflows publish to this bridge.
   */
  hostWorkflowConfig?: Record<string, unknown>;
  /** Status activities run at once (default 50). */
  maxConcurrentActivities?: number;
  /** Long polls kept open for them (the SDK's default: 10). */
  activityPolls?: number;
  /** How long a leadership change waits for status activities in flight. */
  shutdownGraceMs?: number;
  /** BMO's PROVISIONING_LIMIT (default 20) and whether hosts booting virtual media count (default: no, as BMO). */
  provisioningLimit?: { limit: number; countVirtualMedia?: boolean };
  /** Prometheus metrics (bridge/metrics.ts); the Kubernetes client reports its requests to them itself. */
  metrics?: BridgeMetrics;
  logger: Logger;
}

/** The bridge process's engine (see the file header). */
/** A bridge worker that ran this long before it stopped was healthy: it starts again at once. */
const WORKER_HEALTHY_RUN_MS = 60_000;

/** The pause before the bridge worker's next start after `failures` failed or short-lived runs: 1 s doubling to 30 s. */
export function workerRestartDelayMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.min(Math.max(failures, 1) - 1, 5));
}

export class Bridge {
  readonly #options: BridgeOptions;
  readonly #log: Logger;
  readonly #elector: LeaderElector;
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;
  #term: Term | undefined;
  #leadingWaiters: (() => void)[] = [];

  constructor(options: BridgeOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#elector = new LeaderElector({
      identity: options.identity,
      lease: options.kube.lease(options.lease.namespace, options.lease.name),
      leaseDurationMs: options.lease.leaseDurationMs,
      renewDeadlineMs: options.lease.renewDeadlineMs,
      retryPeriodMs: options.lease.retryPeriodMs,
      onStartedLeading: (signal) => this.#lead(signal),
      onStoppedLeading: () => this.#stepDown(),
      onNewLeader: (leader) =>
        leader === options.identity ? this.#log.info({ lease: options.lease.name }, 'became the leader') : this.#log.info({ leader, lease: options.lease.name }, 'another bridge leads; waiting'),
      onError: (error, phase) => this.#log.warn({ phase, err: errorMessage(error) }, 'leader election'),
    });
    options.metrics?.watch({
      hosts: () => this.#term?.hosts.list() ?? [],
      queueDepth: () => this.#term?.queue.length ?? 0,
      leading: () => this.isLeader,
    });
  }

  get isLeader(): boolean {
    return this.#elector.isLeader && this.#term?.ready === true;
  }

  /** The running term's parts, for tests and metrics (undefined while not leading). */
  get term(): Readonly<Term> | undefined {
    return this.#term;
  }

  /** Starts campaigning for the Lease. */
  start(): void {
    this.#log.info({ identity: this.#options.identity, lease: `${this.#options.lease.namespace}/${this.#options.lease.name}`, namespaces: this.#options.namespaces.length > 0 ? this.#options.namespaces : 'all' }, 'bridge starting');
    this.#running ??= this.#elector.run(this.#abort.signal);
  }

  /** Resolves once this bridge leads and its informers are synced and its worker is polling. */
  waitUntilLeading(): Promise<void> {
    if (this.isLeader) return Promise.resolve();
    return new Promise((resolve) => this.#leadingWaiters.push(resolve));
  }

  /** Queues every known host for a reconcile. */
  resync(): void {
    const term = this.#term;
    if (!term) return;
    for (const host of term.hosts.list()) term.queue.add(keyOf(host));
  }

  /** Graceful drain: stop the informers and queue, shut the worker down, release the Lease. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
    this.#log.info('bridge stopped');
  }

  async #lead(signal: AbortSignal): Promise<void> {
    const o = this.#options;
    const log = this.#log;
    const namespaces = o.namespaces.length > 0 ? o.namespaces : [undefined];
    const hosts = new InformerGroup<HostObject>(
      namespaces.map(
        (ns) =>
          new Informer<HostObject>({
            listWatch: o.kube.hosts.listWatch(ns),
            project: (raw) => cachedObject(raw) as HostObject | undefined,
            key: keyOf,
            resourceVersion: (h) => h.metadata.resourceVersion ?? '',
            onError: (error, retryInMs) => log.warn({ informer: `baremetalhosts${ns ? ` in ${ns}` : ''}`, err: errorMessage(error), retryInMs }, 'watch failed; retrying'),
            onList: (count, afterGone) => log.info({ informer: `baremetalhosts${ns ? ` in ${ns}` : ''}`, count, afterGone }, 'listed'),
          }),
      ),
    );
    const secrets = new InformerGroup<SecretView>(
      namespaces.map(
        (ns) =>
          new Informer<SecretView>({
            listWatch: o.kube.secrets.listWatch(ns),
            project: secretView,
            key: (s) => objectKey(s.namespace, s.name),
            resourceVersion: (s) => s.resourceVersion,
            onError: (error, retryInMs) => log.warn({ informer: `secrets${ns ? ` in ${ns}` : ''}`, err: errorMessage(error), retryInMs }, 'watch failed; retrying'),
            onList: (count, afterGone) => log.info({ informer: `secrets${ns ? ` in ${ns}` : ''}`, count, afterGone }, 'listed'),
          }),
      ),
    );
    const watch = <T>(what: string, listWatch: (ns?: string) => ReturnType<Kube['hosts']['listWatch']>) =>
      new InformerGroup<T>(
        namespaces.map(
          (ns) =>
            new Informer<T>({
              listWatch: listWatch(ns),
              project: (raw) => cachedObject(raw) as T | undefined,
              key: (o) => keyOf(o as HostObject),
              resourceVersion: (o) => (o as HostObject).metadata.resourceVersion ?? '',
              onError: (error, retryInMs) => log.warn({ informer: `${what}${ns ? ` in ${ns}` : ''}`, err: errorMessage(error), retryInMs }, 'watch failed; retrying'),
              onList: (count, afterGone) => log.info({ informer: `${what}${ns ? ` in ${ns}` : ''}`, count, afterGone }, 'listed'),
            }),
        ),
      );
    const firmwareInformers = {
      hfs: watch<HfsObject>('hostfirmwaresettings', (ns) => o.kube.hostFirmwareSettings.listWatch(ns)),
      hfc: watch<HfcObject>('hostfirmwarecomponents', (ns) => o.kube.hostFirmwareComponents.listWatch(ns)),
      hup: watch<HupObject>('hostupdatepolicies', (ns) => o.kube.hostUpdatePolicies.listWatch(ns)),
      schemas: watch<SchemaObject>('firmwareschemas', (ns) => o.kube.firmwareSchemas.listWatch(ns)),
      rollouts: watch<RolloutObject>('firmwarerollouts', (ns) => o.kube.firmwareRollouts.listWatch(ns)),
    };
    const firmwareCaches = {
      hfs: new HostCache<HfsObject>(firmwareInformers.hfs),
      hfc: new HostCache<HfcObject>(firmwareInformers.hfc),
      schemas: new HostCache<SchemaObject>(firmwareInformers.schemas),
      rollouts: new HostCache<RolloutObject>(firmwareInformers.rollouts),
    };
    const schemaOwners = new SchemaOwners({ kube: o.kube, schemas: firmwareCaches.schemas, hfs: firmwareCaches.hfs, logger: log, signal });
    const firmwareOf = (key: string) => {
      const hfs = firmwareCaches.hfs.get(key);
      const ref = hfs?.status?.schema;
      const schema = ref ? firmwareCaches.schemas.get(objectKey(ref.namespace, ref.name)) : undefined;
      return firmwareIntentOf({ hfs, hfc: firmwareCaches.hfc.get(key), hup: firmwareInformers.hup.get(key), schema });
    };
    const cache = new HostCache(hosts);
    const limiter = new ProvisioningLimiter({ limit: o.provisioningLimit?.limit ?? DEFAULT_PROVISIONING_LIMIT, countVirtualMedia: o.provisioningLimit?.countVirtualMedia });
    const slots: SlotArbiter = { limiter, offerFree: () => this.#offerFree(limiter) };
    const reconciler = new HostReconciler({
      hosts,
      secrets,
      claimSecret: (namespace, name) => o.kube.secrets.claim(namespace, name),
      kube: o.kube.hosts,
      logger: log,
      send: (desired, why) => this.#send(desired, why),
      countsTowardLimit: (host) => limiter.counts(host),
      firmwareOf,
    });
    const metrics = o.metrics;
    const queue = new WorkQueue({
      concurrency: o.concurrency ?? 4,
      handler: async (key) => {
        const started = performance.now();
        const seconds = () => (performance.now() - started) / 1000;
        try {
          const outcome = await reconciler.reconcile(key);
          // The firmware objects' writer is made with the status activities below, before the queue starts.
          await firmwareObjects?.reconcile(key, log.child({ host: key }));
          metrics?.reconciled(key, seconds(), outcome ? 'requeue_after' : 'success');
          return outcome;
        } catch (error) {
          metrics?.reconciled(key, seconds(), 'error');
          throw error;
        }
      },
      ...(metrics ? { observer: metrics.queue } : {}),
      onError: (key, error, failures, retryInMs) => log.warn({ host: key, failures, retryInMs, err: errorMessage(error) }, 'reconcile failed; retrying'),
    });

    // Which hosts use which Secret, to reconcile them when it changes.
    const hostsBySecret = new Map<string, Set<string>>();
    const secretOfHost = new Map<string, string>();
    const indexHost = (kind: string, host: HostObject) => {
      const key = keyOf(host);
      const previous = secretOfHost.get(key);
      if (previous) hostsBySecret.get(previous)?.delete(key);
      secretOfHost.delete(key);
      const credentialsName = credentialsNameOf(host);
      if (kind !== 'delete' && credentialsName) {
        const secretKey = objectKey(host.metadata.namespace ?? '', credentialsName);
        secretOfHost.set(key, secretKey);
        let set = hostsBySecret.get(secretKey);
        if (!set) hostsBySecret.set(secretKey, (set = new Set()));
        set.add(key);
      }
    };
    hosts.onChange((kind, host, old) => {
      cache.observed(kind, host);
      indexHost(kind, host);
      if (kind === 'delete' && term.ready) {
        // A deleted host frees whatever slot it held or waited for.
        limiter.forget(keyOf(host));
        slots.offerFree();
      }
      if (kind !== 'update' || !old || mayChangeDesired(old, host)) queue.add(keyOf(host));
    });
    secrets.onChange((_kind, secret) => {
      for (const hostKey of hostsBySecret.get(objectKey(secret.namespace, secret.name)) ?? []) queue.add(hostKey);
    });
    // A host's firmware objects have its name: a change of one reconciles the host (its intent and their conditions).
    firmwareInformers.hfs.onChange((kind, object) => {
      firmwareCaches.hfs.observed(kind, object);
      queue.add(keyOf(object));
      if (kind !== 'delete') schemaOwners.want(object);
    });
    firmwareInformers.hfc.onChange((kind, object) => {
      firmwareCaches.hfc.observed(kind, object);
      queue.add(keyOf(object));
    });
    firmwareInformers.hup.onChange((_kind, object) => queue.add(keyOf(object)));
    firmwareInformers.schemas.onChange((kind, schema, old) => {
      firmwareCaches.schemas.observed(kind, schema);
      // Its rules are what its hosts' settings are checked against: a change of them reconciles those hosts. A
      // write of its owners changes no rule (and every host joining the fleet makes one); it is checked for
      // owners missing, e.g. removed by hand.
      const rulesChanged = kind !== 'update' || !old || old.metadata.generation !== schema.metadata.generation;
      for (const hfs of settingsUsing(schema, firmwareInformers.hfs.list())) {
        if (rulesChanged) queue.add(keyOf(hfs));
        if (kind !== 'delete') schemaOwners.want(hfs);
      }
    });
    const rollouts = new RolloutBridge({
      rollouts: firmwareCaches.rollouts,
      hosts,
      kube: o.kube,
      start: (start) => this.#startRollout(start),
      signal: (ref, control) => this.#signalRollout(ref, control),
      logger: log,
    });
    const rolloutQueue = new WorkQueue({
      concurrency: 2,
      handler: (key) => rollouts.reconcile(key),
      onError: (key, error, failures, retryInMs) => log.warn({ rollout: key, failures, retryInMs, err: errorMessage(error) }, 'rollout reconcile failed; retrying'),
    });
    firmwareInformers.rollouts.onChange((kind, object, old) => {
      firmwareCaches.rollouts.observed(kind, object);
      // Our own status writes change nothing to send; spec, annotations and deletion do.
      if (kind !== 'update' || !old || old.metadata.generation !== object.metadata.generation) rolloutQueue.add(keyOf(object));
    });

    const informers = [hosts, secrets, ...Object.values(firmwareInformers)];
    const term: Term = {
      hosts,
      secrets,
      informers,
      queue,
      rolloutQueue,
      reconciler,
      rollouts,
      schemaOwners,
      cache,
      limiter,
      worker: undefined,
      workerRun: undefined,
      resync: undefined,
      offers: undefined,
      ready: false,
    };
    this.#term = term;
    for (const informer of informers) informer.start();
    // Leadership may end before the first list completes (apiserver down): stop waiting then.
    await Promise.race([Promise.all(informers.map((i) => i.waitForSync())), aborted(signal)]);
    if (signal.aborted) return;
    // The slots as the listed statuses show them (a previous leader's grants included).
    limiter.seed(hosts.list().filter((h) => limiter.counts(h)).flatMap((h) => {
      const seen = slotViewOf(h);
      return seen ? [{ key: keyOf(h), ...seen }] : [];
    }));
    const { activities, eventsIdle, firmware: firmwareObjects } = createBridgeActivities({
      kube: o.kube,
      hosts: cache,
      sentGeneration: (key, uid) => reconciler.sentGeneration(key, uid),
      identity: o.identity,
      logger: log,
      slots,
      firmware: (emit) => new FirmwareObjects({ kube: o.kube, ...firmwareCaches, emit, identity: o.identity, logger: log }),
      rollouts,
      ...(metrics ? { metrics } : {}),
    });
    term.eventsIdle = eventsIdle;
    queue.start();
    rolloutQueue.start();
    for (const rollout of firmwareInformers.rollouts.list()) rolloutQueue.add(keyOf(rollout));
    term.workerRun = this.#superviseWorker(term, activities, signal);
    term.resync = setInterval(() => this.resync(), o.resyncPeriodMs ?? 600_000);
    term.resync.unref();
    // Offers not taken in time go to the next host in line: look for them now and then (no Temporal cost).
    term.offers = setInterval(() => slots.offerFree(), 15_000);
    term.offers.unref();
    term.ready = true;
    slots.offerFree();
    log.info({ hosts: hosts.list().length, taskQueue: o.bridgeTaskQueue }, 'leading: informers synced, worker started');
    const waiters = this.#leadingWaiters;
    this.#leadingWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Runs the worker for the whole term, creating it again (with backoff) if it fails. */
  async #superviseWorker(term: Term, activities: ReturnType<typeof createBridgeActivities>['activities'], signal: AbortSignal): Promise<void> {
    const o = this.#options;
    let failures = 0;
    while (!signal.aborted) {
      let ranMs = 0;
      try {
        const worker = await Worker.create({
          connection: o.temporal.connection,
          namespace: o.temporal.namespace,
          taskQueue: o.bridgeTaskQueue,
          identity: o.identity,
          ...(o.temporal.dataConverter ? { dataConverter: o.temporal.dataConverter } : {}),
          activities: { ...activities },
          // Each publication waits for the shared request budget: a bounded number in flight keeps that wait
          // short (well inside the activities' start-to-close timeout) instead of queueing hundreds of them.
          maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 50,
          ...(o.activityPolls !== undefined ? { maxConcurrentActivityTaskPolls: o.activityPolls } : {}),
          shutdownGraceTime: o.shutdownGraceMs ?? 10_000,
        });
        if (signal.aborted) return;
        term.worker = worker;
        const started = Date.now();
        // The end of the term shuts the worker down; in-flight activities get the grace time to finish.
        const shutdown = () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
        };
        signal.addEventListener('abort', shutdown, { once: true });
        try {
          await worker.run();
        } finally {
          signal.removeEventListener('abort', shutdown);
          ranMs = Date.now() - started;
        }
        if (signal.aborted) return;
        // A worker that stops as soon as it starts (a Temporal runtime shutting down stops every new worker at
        // once) must not be restarted in a tight loop: it backs off like a failure.
        failures = ranMs >= WORKER_HEALTHY_RUN_MS ? 0 : failures + 1;
        this.#log.warn({ failures, ranMs }, 'the bridge worker stopped unexpectedly; starting it again');
      } catch (error) {
        if (signal.aborted) return;
        failures = ranMs >= WORKER_HEALTHY_RUN_MS ? 1 : failures + 1;
        this.#log.error({ err: errorMessage(error), failures }, 'the bridge worker failed; starting it again');
      } finally {
        term.worker = undefined;
      }
      if (failures > 0 && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, workerRestartDelayMs(failures)).unref());
    }
  }

  async #stepDown(): Promise<void> {
    const term = this.#term;
    this.#term = undefined;
    if (!term) return;
    term.ready = false;
    if (term.resync) clearInterval(term.resync);
    if (term.offers) clearInterval(term.offers);
    // Reverse order: stop serving activities (the term's end signal shut the worker down), stop reconciling,
    // stop watching.
    await term.workerRun;
    // Events still queued get a few seconds to go out (best effort, as everywhere).
    if (term.eventsIdle) await Promise.race([term.eventsIdle(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await Promise.all([term.queue.stop(), term.rolloutQueue.stop(), term.schemaOwners.idle()]);
    await Promise.all(term.informers.map((i) => i.stop()));
    term.reconciler.reset();
    term.rollouts.reset();
    term.cache.clear();
    this.#log.info('stepped down: informers, work queue and worker stopped');
  }

  /** Offers the free slots to the delayed hosts first in line: one `offerSlot` signal each. */
  #offerFree(limiter: ProvisioningLimiter): void {
    for (const key of limiter.offers()) {
      const [namespace = '', name = ''] = key.split('/');
      this.#options.temporal.client.workflow.getHandle(hostWorkflowId(namespace, name)).signal(offerSlot).then(
        () => this.#log.info({ host: key, slots: limiter.snapshot() }, 'offered a provisioning slot'),
        (error: unknown) => {
          // A workflow that is gone lets its slot go; otherwise the offer expires and goes to the next host.
          if ((error as { name?: string }).name === 'WorkflowNotFoundError') limiter.forget(key);
          this.#log.warn({ host: key, err: errorMessage(error) }, 'could not offer a provisioning slot');
        },
      );
    }
  }

  /** Starts a FirmwareRollout's workflow (signalling it when it already runs); never a second run of one that ended. */
  async #startRollout(start: RolloutStart): Promise<{ alreadyRan: boolean }> {
    const o = this.#options;
    const config = o.bridgeTaskQueue !== BRIDGE_TASK_QUEUE ? { config: { bridgeTaskQueue: o.bridgeTaskQueue } } : {};
    try {
      await o.temporal.client.workflow.signalWithStart(ROLLOUT_WORKFLOW_TYPE, {
        workflowId: rolloutWorkflowId(start.ref.namespace, start.ref.name),
        taskQueue: o.hostTaskQueue,
        args: [{ ...start, ...config }],
        signal: syncRollout,
        signalArgs: [start.control],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        staticSummary: `FirmwareRollout ${start.ref.namespace}/${start.ref.name}: ${start.hosts.length} hosts`,
      });
      return { alreadyRan: false };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return { alreadyRan: true };
      throw error;
    }
  }

  async #signalRollout(ref: { namespace: string; name: string }, control: RolloutControl): Promise<void> {
    try {
      await this.#options.temporal.client.workflow.getHandle(rolloutWorkflowId(ref.namespace, ref.name)).signal(syncRollout, control);
    } catch (error) {
      // A rollout that ended has nothing left to steer.
      if ((error as { name?: string }).name !== 'WorkflowNotFoundError') throw error;
    }
  }

  async #send(desired: HostDesired, why: SendReason): Promise<void> {
    const o = this.#options;
    const { namespace, name } = desired.ref;
    const config = { ...o.hostWorkflowConfig, ...(o.bridgeTaskQueue !== BRIDGE_TASK_QUEUE ? { bridgeTaskQueue: o.bridgeTaskQueue } : {}) };
    await o.temporal.client.workflow.signalWithStart(HOST_WORKFLOW_TYPE, {
      workflowId: hostWorkflowId(namespace, name),
      taskQueue: o.hostTaskQueue,
      args: [{ desired, ...(Object.keys(config).length > 0 ? { config } : {}), patches: HOST_PATCHES }],
      signal: syncHost,
      signalArgs: [desired],
      typedSearchAttributes: [
        { key: BmhNamespace, value: namespace },
        { key: BmhName, value: name },
      ],
      staticSummary: `BareMetalHost ${namespace}/${name}`,
    });
    this.#log.info({ host: objectKey(namespace, name), why, generation: desired.generation, deleting: desired.deleting, statusMissing: desired.statusMissing }, 'signalled host workflow');
  }
}

/** One leadership term's running parts. */
export interface Term {
  hosts: InformerGroup<HostObject>;
  secrets: InformerGroup<SecretView>;
  /** Every informer of the term (hosts, Secrets, firmware objects, FirmwareRollouts). */
  informers: { start(): void; stop(): Promise<void>; waitForSync(): Promise<void> }[];
  queue: WorkQueue;
  rolloutQueue: WorkQueue;
  reconciler: HostReconciler;
  rollouts: RolloutBridge;
  /** Writes the FirmwareSchemas' owners; its loops end with the term's signal. */
  schemaOwners: SchemaOwners;
  cache: HostCache;
  /** The provisioning limit's slots and queue of delayed hosts. */
  limiter: ProvisioningLimiter;
  worker: Worker | undefined;
  workerRun: Promise<void> | undefined;
  resync: NodeJS.Timeout | undefined;
  offers: NodeJS.Timeout | undefined;
  ready: boolean;
  /** Resolves when the Events queued by this term's publications were sent. */
  eventsIdle?: () => Promise<void>;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
