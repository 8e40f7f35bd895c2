/**
 * The bridge: campaigns for the Lease and, while it leads, runs the informers (BareMetalHosts and Secrets of
 * the watched namespaces), the reconcile work queue that signals host workflows, and the Temporal worker that
 * serves the status activities on the bridge task queue. When leadership ends (lost, or `stop`) everything is
 * stopped in reverse order and the next term starts from a fresh list. Connections are the caller's.
 */
import type { Client } from '@temporalio/client';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { HostDesired } from '../domain/host-model.ts';
import { BRIDGE_TASK_QUEUE, hostWorkflowId } from '../domain/names.ts';
import { offerSlot, syncHost } from '../workflows/messages.ts';
import { createBridgeActivities, type SlotArbiter } from './activities.ts';
import { HostCache } from './host-cache.ts';
import { Informer, InformerGroup } from './informer.ts';
import type { Kube } from './kube.ts';
import { LeaderElector } from './leader-election.ts';
import { asKubeObject, credentialsNameOf, keyOf, objectKey, secretView, type HostObject, type SecretView } from './objects.ts';
import { DEFAULT_PROVISIONING_LIMIT, ProvisioningLimiter, slotViewOf } from './provisioning-limit.ts';
import { HostReconciler, mayChangeDesired, type SendReason } from './reconcile.ts';
import { WorkQueue } from './work-queue.ts';

/** Workflow type of the host workflow the bridge starts (a name recorded in history: never renamed). */
export const HOST_WORKFLOW_TYPE = 'hostWorkflow';

const BmhNamespace = defineSearchAttributeKey('BmhNamespace', SearchAttributeType.KEYWORD);
const BmhName = defineSearchAttributeKey('BmhName', SearchAttributeType.KEYWORD);

export interface BridgeOptions {
  kube: Kube;
  temporal: { client: Client; connection: NativeConnection; namespace: string };
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
  /** How long a leadership change waits for status activities in flight. */
  shutdownGraceMs?: number;
  /** BMO's PROVISIONING_LIMIT (default 20) and whether hosts booting virtual media count (default: no, as BMO). */
  provisioningLimit?: { limit: number; countVirtualMedia?: boolean };
  logger: Logger;
}

/** The bridge process's engine (see the file header). */
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
            project: (raw) => asKubeObject(raw) as HostObject | undefined,
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
    });
    const queue = new WorkQueue({
      concurrency: o.concurrency ?? 4,
      handler: (key) => reconciler.reconcile(key),
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

    const term: Term = { hosts, secrets, queue, reconciler, cache, limiter, worker: undefined, workerRun: undefined, resync: undefined, offers: undefined, ready: false };
    this.#term = term;
    hosts.start();
    secrets.start();
    // Leadership may end before the first list completes (apiserver down): stop waiting then.
    await Promise.race([Promise.all([hosts.waitForSync(), secrets.waitForSync()]), aborted(signal)]);
    if (signal.aborted) return;
    // The slots as the listed statuses show them (a previous leader's grants included).
    limiter.seed(hosts.list().filter((h) => limiter.counts(h)).flatMap((h) => {
      const seen = slotViewOf(h);
      return seen ? [{ key: keyOf(h), ...seen }] : [];
    }));
    queue.start();

    const { activities, eventsIdle } = createBridgeActivities({
      kube: o.kube,
      hosts: cache,
      sentGeneration: (key, uid) => reconciler.sentGeneration(key, uid),
      identity: o.identity,
      logger: log,
      slots,
    });
    term.eventsIdle = eventsIdle;
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
      try {
        const worker = await Worker.create({
          connection: o.temporal.connection,
          namespace: o.temporal.namespace,
          taskQueue: o.bridgeTaskQueue,
          identity: o.identity,
          activities: { ...activities },
          // Each publication waits for the shared request budget: a bounded number in flight keeps that wait
          // short (well inside the activities' start-to-close timeout) instead of queueing hundreds of them.
          maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 50,
          shutdownGraceTime: o.shutdownGraceMs ?? 10_000,
        });
        if (signal.aborted) return;
        term.worker = worker;
        failures = 0;
        // The end of the term shuts the worker down; in-flight activities get the grace time to finish.
        const shutdown = () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
        };
        signal.addEventListener('abort', shutdown, { once: true });
        try {
          await worker.run();
        } finally {
          signal.removeEventListener('abort', shutdown);
        }
        if (signal.aborted) return;
        this.#log.warn('the bridge worker stopped unexpectedly; starting it again');
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.#log.error({ err: errorMessage(error), failures }, 'the bridge worker failed; starting it again');
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5))).unref());
      } finally {
        term.worker = undefined;
      }
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
    await term.queue.stop();
    await Promise.all([term.hosts.stop(), term.secrets.stop()]);
    term.reconciler.reset();
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

  async #send(desired: HostDesired, why: SendReason): Promise<void> {
    const o = this.#options;
    const { namespace, name } = desired.ref;
    const config = { ...o.hostWorkflowConfig, ...(o.bridgeTaskQueue !== BRIDGE_TASK_QUEUE ? { bridgeTaskQueue: o.bridgeTaskQueue } : {}) };
    await o.temporal.client.workflow.signalWithStart(HOST_WORKFLOW_TYPE, {
      workflowId: hostWorkflowId(namespace, name),
      taskQueue: o.hostTaskQueue,
      args: [Object.keys(config).length > 0 ? { desired, config } : { desired }],
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
  queue: WorkQueue;
  reconciler: HostReconciler;
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
