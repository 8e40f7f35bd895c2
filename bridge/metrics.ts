/**
 * The bridge's Prometheus metrics, on the process's registry (workers/health.ts serves them on `/metrics`).
 * Where the Metal3 BareMetal Operator or the controller-runtime and client-go libraries it is built on have a
 * metric for the same thing, it has their name and labels, so dashboards and alerts made for BMO keep
 * working: BMO's `metal3_*` (internal/controller/metal3.io/metrics.go, observed as BMO does: after the status
 * write), controller-runtime's `controller_runtime_reconcile_*` and `workqueue_*` and client-go's
 * `rest_client_*` and `leader_election_master_status`. Tempered's own are `tempered_*`: hosts by state and
 * operational status, and the status lag.
 *
 * Cardinality stays bounded: host names label only the series BMO labels with them (its reconcile counter,
 * operation durations, power changes and delays, one series per host as in BMO); everything else is labelled by
 * closed sets (states, statuses, error types, verbs, codes).
 */
import { Counter, Gauge, Histogram, exponentialBuckets, type Registry } from 'prom-client';
import type { HostEvent, StatusPublication } from '../domain/host-model.ts';
import { HostHistogram } from './host-histogram.ts';

/** Buckets of the client-go request histograms (a request's duration, its wait for the budget), in seconds. */
const REST_CLIENT_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];

/** The controller name controller-runtime would give the BareMetalHost reconciler (its `controller` label). */
export const CONTROLLER = 'baremetalhost';

/** client_golang's `DefBuckets` (prom-client's default too): BMO's registration durations use them. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** BMO's buckets for the slow operations (seconds). */
const SLOW_OPERATION_BUCKETS = [30, 90, 180, 360, 720, 1440];
/** client-go's workqueue buckets: 10 ns to 10 s by powers of ten. */
const WORKQUEUE_BUCKETS = exponentialBuckets(1e-8, 10, 10);

/** The operations whose duration BMO measures, by the provisioning state they run in. */
const OPERATION_OF_HISTORY = {
  register: 'register',
  inspect: 'inspect',
  provision: 'provision',
  deprovision: 'deprovision',
} as const;

/** What the bridge sees of a host for the state gauges. */
export interface HostStatusView {
  metadata: { uid?: string };
  status?: { provisioning?: { state?: unknown }; operationalStatus?: unknown } | Record<string, unknown>;
}

function stateOf(host: HostStatusView): { state: string; operational: string } {
  const status = (host.status ?? {}) as { provisioning?: { state?: unknown }; operationalStatus?: unknown };
  return {
    state: typeof status.provisioning?.state === 'string' ? status.provisioning.state : '',
    operational: typeof status.operationalStatus === 'string' ? status.operationalStatus : '',
  };
}

/** A status the bridge had and the one it wrote, for BMO's post-save observations. */
interface StatusView {
  provisioning?: { state?: string };
  operationalStatus?: string;
  errorType?: string;
  errorCount?: number;
  operationHistory?: Record<string, { start?: string | null; end?: string | null } | undefined>;
}

/** BMO's event type for an errorType (its `error_type` label): "registration error" is "RegistrationError". */
export function errorEventType(errorType: string): string {
  return errorType
    .split(' ')
    .map((w) => (w ? w[0]?.toUpperCase() + w.slice(1) : ''))
    .join('');
}

/** Every metric of the bridge (see the file header). */
export class BridgeMetrics {
  readonly registry: Registry;
  readonly #sources: { hosts?: () => Iterable<HostStatusView>; queueDepth?: () => number; leading?: () => boolean } =
    {};
  /** Since when (as seen at scrapes) each host, by uid, has shown its current provisioning state. */
  readonly #stateSince = new Map<string, { state: string; since: number }>();

  // controller-runtime
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  // BMO
  readonly metal3Reconcile: Counter<'namespace' | 'host'>;
  readonly metal3ReconcileErrors: Counter;
  readonly hostErrors: Counter<'error_type'>;
  readonly stateChanges: Counter<'prev_state' | 'new_state'>;
  readonly operationDuration: Record<keyof typeof OPERATION_OF_HISTORY, HostHistogram<'namespace' | 'host'>>;
  readonly powerChanges: Counter<'namespace' | 'host' | 'on_off'>;
  readonly delayedProvisioning: Counter<'namespace' | 'host'>;
  readonly delayedDeprovisioning: Counter<'namespace' | 'host'>;
  readonly credentialsMissing: Counter;
  readonly credentialsInvalid: Counter;
  readonly deleteWithoutPoweringOff: Counter;
  readonly deleteWithoutDeprovisioning: Counter;
  // client-go workqueue
  readonly queueAdds: Counter<'name' | 'controller'>;
  readonly queueWait: Histogram<'name' | 'controller'>;
  readonly queueWork: Histogram<'name' | 'controller'>;
  readonly queueRetries: Counter<'name' | 'controller'>;
  // client-go REST client
  readonly kubeRequests: Counter<'code' | 'method' | 'host'>;
  readonly kubeRequestDuration: Histogram<'verb' | 'host'>;
  readonly kubeRateLimiterDuration: Histogram<'verb' | 'host'>;
  // Tempered
  readonly statusLag: Histogram;
  readonly publications: Counter<'result'>;

  constructor(registry: Registry) {
    this.registry = registry;
    const registers = [registry];
    const sources = this.#sources;
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.metal3Reconcile = new Counter({
      name: 'metal3_reconcile_total',
      help: 'The number of times hosts have been reconciled',
      labelNames: ['namespace', 'host'],
      registers,
    });
    this.metal3ReconcileErrors = new Counter({
      name: 'metal3_reconcile_error_total',
      help: 'The number of times the operator has failed to reconcile a host',
      registers,
    });
    this.hostErrors = new Counter({
      name: 'metal3_host_error_total',
      help: 'The number of times hosts have entered an error state',
      labelNames: ['error_type'],
      registers,
    });
    this.stateChanges = new Counter({
      name: 'metal3_provisioning_state_change_total',
      help: 'Number of times a state transition has occurred',
      labelNames: ['prev_state', 'new_state'],
      registers,
    });
    // One series per host, as BMO: kept compact (bridge/host-histogram.ts says why).
    const duration = (op: string, what: string, buckets: number[]) =>
      new HostHistogram({
        name: `metal3_operation_${op}_duration_seconds`,
        help: `Length of time per ${what} per host`,
        labelNames: ['namespace', 'host'],
        buckets,
        registers,
      });
    this.operationDuration = {
      register: duration('register', 'registration', DEFAULT_BUCKETS),
      inspect: duration('inspect', 'hardware inspection', SLOW_OPERATION_BUCKETS),
      provision: duration('provision', 'hardware provision operation', SLOW_OPERATION_BUCKETS),
      deprovision: duration('deprovision', 'hardware deprovision operation', SLOW_OPERATION_BUCKETS),
    };
    this.powerChanges = new Counter({
      name: 'metal3_operation_power_change_total',
      help: 'Number of times a host has been powered on or off',
      labelNames: ['namespace', 'host', 'on_off'],
      registers,
    });
    this.delayedProvisioning = new Counter({
      name: 'metal3_delayed__provisioning_total',
      help: 'The number of times hosts have been delayed while provisioning due a busy provisioner',
      labelNames: ['namespace', 'host'],
      registers,
    });
    this.delayedDeprovisioning = new Counter({
      name: 'metal3_delayed__deprovisioning_total',
      help: 'The number of times hosts have been delayed while deprovisioning due a busy provisioner',
      labelNames: ['namespace', 'host'],
      registers,
    });
    this.credentialsMissing = new Counter({
      name: 'metal3_credentials_missing_total',
      help: "Number of times a host's credentials are found to be missing",
      registers,
    });
    this.credentialsInvalid = new Counter({
      name: 'metal3_credentials_invalid_total',
      help: "Number of times a host's credentials are found to be invalid",
      registers,
    });
    this.deleteWithoutPoweringOff = new Counter({
      name: 'metal3_delete_without_powering_off_total',
      help: 'Number of times a host is deleted despite powering off failing',
      registers,
    });
    this.deleteWithoutDeprovisioning = new Counter({
      name: 'metal3_delete_without_deprovisioning_total',
      help: 'Number of times a host is deleted despite deprovisioning failing',
      registers,
    });

    const queueLabels = ['name', 'controller'] as const;
    new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: queueLabels,
      registers,
      collect() {
        this.set({ name: CONTROLLER, controller: CONTROLLER }, sources.queueDepth?.() ?? 0);
      },
    });
    this.queueAdds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: queueLabels,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: queueLabels,
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.queueWork = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: queueLabels,
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.queueRetries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: queueLabels,
      registers,
    });

    this.kubeRequests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests, partitioned by status code, method, and host',
      labelNames: ['code', 'method', 'host'],
      registers,
    });
    this.kubeRequestDuration = new Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Request latency in seconds. Broken down by verb and host',
      labelNames: ['verb', 'host'],
      buckets: REST_CLIENT_BUCKETS,
      registers,
    });
    this.kubeRateLimiterDuration = new Histogram({
      name: 'rest_client_rate_limiter_duration_seconds',
      help: 'Client side rate limiter latency in seconds. Broken down by verb, and host.',
      labelNames: ['verb', 'host'],
      buckets: REST_CLIENT_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
      labelNames: ['name'],
      registers,
      collect() {
        this.set({ name: 'tempered-bridge' }, sources.leading?.() ? 1 : 0);
      },
    });

    new Gauge({
      name: 'tempered_hosts',
      help: 'BareMetalHosts the leading bridge sees, by provisioning state and operational status (standby: none)',
      labelNames: ['provisioning_state', 'operational_status'],
      registers,
      collect() {
        this.reset();
        for (const host of sources.hosts?.() ?? []) {
          const { state, operational } = stateOf(host);
          this.inc({ provisioning_state: state, operational_status: operational });
        }
      },
    });
    const stateSince = this.#stateSince;
    new Gauge({
      name: 'tempered_hosts_in_state_longest_seconds',
      help:
        'For each provisioning state, how long the host longest in it has been there, as seen at scrapes by the ' +
        'leading bridge (a new leader starts counting afresh); for alerts on hosts stuck in a state',
      labelNames: ['provisioning_state'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        const seen = new Set<string>();
        const longest = new Map<string, number>();
        for (const host of sources.hosts?.() ?? []) {
          const uid = host.metadata.uid ?? '';
          const { state } = stateOf(host);
          seen.add(uid);
          let entry = stateSince.get(uid);
          if (!entry || entry.state !== state) stateSince.set(uid, (entry = { state, since: now }));
          longest.set(state, Math.max(longest.get(state) ?? 0, (now - entry.since) / 1000));
        }
        for (const uid of stateSince.keys()) if (!seen.has(uid)) stateSince.delete(uid);
        for (const [state, seconds] of longest) this.set({ provisioning_state: state }, seconds);
      },
    });
    this.statusLag = new Histogram({
      name: 'tempered_status_lag_seconds',
      help: 'From the host workflow scheduling a status publication (its state change) to the status written',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.publications = new Counter({
      name: 'tempered_status_publications_total',
      help: 'Status publications by outcome: written, unchanged (nothing owned changed), delayed (slot refused), gone',
      labelNames: ['result'],
      registers,
    });
  }

  /** Where the gauges read their values (the leader's informer, queue and Lease; none while standing by). */
  watch(sources: { hosts: () => Iterable<HostStatusView>; queueDepth: () => number; leading: () => boolean }): void {
    Object.assign(this.#sources, sources);
  }

  /** One reconcile of `key` took `seconds` and ended so. */
  reconciled(key: string, seconds: number, result: 'success' | 'error' | 'requeue_after'): void {
    const [namespace = '', host = ''] = key.split('/');
    this.metal3Reconcile.inc({ namespace, host });
    this.reconcileTotal.inc({ controller: CONTROLLER, result });
    this.reconcileTime.observe({ controller: CONTROLLER }, seconds);
    if (result === 'error') {
      this.reconcileErrors.inc({ controller: CONTROLLER });
      this.metal3ReconcileErrors.inc();
    }
  }

  /** The work queue's observer (bridge/work-queue.ts). */
  get queue(): { added(): void; started(waitedMs: number): void; finished(workMs: number): void; retried(): void } {
    const labels = { name: CONTROLLER, controller: CONTROLLER };
    return {
      added: () => this.queueAdds.inc(labels),
      started: (waitedMs) => this.queueWait.observe(labels, waitedMs / 1000),
      finished: (workMs) => this.queueWork.observe(labels, workMs / 1000),
      retried: () => this.queueRetries.inc(labels),
    };
  }

  /** One request to the apiserver (bridge/kube.ts): HTTP method, status code (0: not reached), duration. */
  kubeRequest(method: string, code: number, seconds: number, host: string): void {
    this.kubeRequests.inc({ code: code === 0 ? '<error>' : String(code), method, host });
    this.kubeRequestDuration.observe({ verb: method, host }, seconds);
  }

  /** How long a request waited for the client's budget (client-go's rate limiter latency). */
  kubeRateLimited(method: string, seconds: number, host: string): void {
    this.kubeRateLimiterDuration.observe({ verb: method, host }, seconds);
  }

  /**
   * A publication's outcome, and BMO's post-save observations when a status was written: the state change,
   * the duration of an operation that ended, an error entered, a delay, power changes, a delete that skipped
   * a step.
   */
  published(
    publication: Pick<StatusPublication, 'ref' | 'state'>,
    outcome: {
      result: 'written' | 'unchanged' | 'delayed' | 'gone';
      before?: StatusView;
      after?: StatusView;
      /**
       * The provisioning state each written status showed, in order: a publication that carries states the
       * host passed together writes each (a watch sees each), and each is a state change, as BMO counts them.
       */
      states?: string[];
      events: HostEvent[];
      lagSeconds?: number;
    },
  ): void {
    this.publications.inc({ result: outcome.result });
    if (outcome.lagSeconds !== undefined && outcome.result !== 'gone')
      this.statusLag.observe(Math.max(0, outcome.lagSeconds));
    const { namespace, name: host } = publication.ref;
    for (const event of outcome.events) {
      if (event.reason === 'PowerOn' || event.reason === 'PowerOff')
        this.powerChanges.inc({ namespace, host, on_off: event.reason === 'PowerOn' ? 'on' : 'off' });
      if (event.reason === 'PowerOffSkipped') this.deleteWithoutPoweringOff.inc();
      if (event.reason === 'DeprovisioningSkipped') this.deleteWithoutDeprovisioning.inc();
    }
    const before = outcome.before ?? {};
    const after = outcome.after;
    if (outcome.result === 'delayed' && publication.state.provisioningState) {
      (publication.state.provisioningState === 'deprovisioning'
        ? this.delayedDeprovisioning
        : this.delayedProvisioning
      ).inc({ namespace, host });
    }
    if (!after) return;
    let prev = before.provisioning?.state ?? '';
    for (const next of outcome.states ?? [after.provisioning?.state ?? '']) {
      if (prev !== next) this.stateChanges.inc({ prev_state: prev, new_state: next });
      prev = next;
    }
    for (const [key, op] of Object.entries(OPERATION_OF_HISTORY)) {
      const ended = after.operationHistory?.[key];
      if (!ended?.end || !ended.start || ended.end === before.operationHistory?.[key]?.end) continue;
      const seconds = (Date.parse(ended.end) - Date.parse(ended.start)) / 1000;
      if (Number.isFinite(seconds) && seconds >= 0) this.operationDuration[op].observe({ namespace, host }, seconds);
    }
    const entered =
      after.errorType && (after.errorType !== before.errorType || (after.errorCount ?? 0) > (before.errorCount ?? 0));
    if (entered && after.errorType) {
      this.hostErrors.inc({ error_type: errorEventType(after.errorType) });
      if (publication.state.errorCode === 'BmcCredentialsMissing') this.credentialsMissing.inc();
      if (publication.state.errorCode === 'BmcAuthFailed') this.credentialsInvalid.inc();
    }
  }
}
