/**
 * The bridge's only contact with `@kubernetes/client-node` (2.x): the few calls it makes, behind a
 * client-side request budget (a token bucket shared by every request but watches, like client-go's QPS/burst),
 * with 429/5xx/network failures retried with backoff, 409 conflicts retried with a fresh read where the write
 * carries a resourceVersion precondition, and errors reduced to a `KubeError` that never carries response
 * headers or bodies (so nothing secret can reach a log line through an error).
 */
import * as k8s from '@kubernetes/client-node';
import { pooledApiClient } from '../lib/kube-client.ts';
import { METAL3_GROUP, METAL3_VERSION, TEMPERED_GROUP, TEMPERED_VERSION } from '../domain/names.ts';
import type { EventBody } from './events.ts';
import type { LeaseClient, LeaseRecord } from './leader-election.ts';
import { SECRET_ENVIRONMENT_SELECTOR, SECRET_ENVIRONMENT_LABEL, SECRET_ENVIRONMENT_VALUE, asKubeObject, secretView, type KubeObject, type SecretView } from './objects.ts';
import { TokenBucket, systemClock, type Clock } from './token-bucket.ts';

/** A failed Kubernetes call: HTTP status (0 when the apiserver was not reached), Status reason, message. */
export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeError';
    this.code = code;
    this.reason = reason;
  }
  /** Worth retrying later: throttled, apiserver error, or not reached. */
  get retryable(): boolean {
    return this.code === 0 || this.code === 429 || this.code >= 500;
  }
}

export const isNotFound = (error: unknown): boolean => error instanceof KubeError && error.code === 404;
export const isConflict = (error: unknown): boolean => error instanceof KubeError && error.code === 409;
/** The watch's resourceVersion is older than what the apiserver still has: list again. */
export const isGone = (error: unknown): boolean => error instanceof KubeError && error.code === 410;

function statusBody(body: unknown): { message?: string; reason?: string } {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return {};
    }
  }
  if (value === null || typeof value !== 'object') return {};
  const { message, reason } = value as { message?: unknown; reason?: unknown };
  return { message: typeof message === 'string' ? message : undefined, reason: typeof reason === 'string' ? reason : undefined };
}

/** Reduces anything the client throws to a KubeError (already-converted errors pass through). */
export function toKubeError(error: unknown, what: string): KubeError {
  if (error instanceof KubeError) return error;
  if (error instanceof k8s.ApiException) {
    const { message, reason } = statusBody(error.body);
    return new KubeError(error.code, reason ?? `HTTP${error.code}`, `${what}: ${message ?? `HTTP ${error.code}`}`);
  }
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number') return new KubeError(statusCode, `HTTP${statusCode}`, `${what}: HTTP ${statusCode}`);
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const text = error instanceof Error ? error.message : String(error);
  return new KubeError(0, 'NetworkError', `${what}: ${typeof cause === 'string' ? `${cause} (${text})` : text}`);
}

/** One event of a watch stream, as the apiserver sends it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR' | string;
  object: unknown;
}

/** List and watch of one resource in one scope (a namespace, or all). */
export interface ListWatch {
  readonly description: string;
  /** A consistent list (paginated under the hood) and the resourceVersion to watch from. */
  list(): Promise<{ items: unknown[]; resourceVersion: string }>;
  /**
   * Watches from `resourceVersion` until the server ends the stream (resolves), the signal aborts (resolves),
   * or the stream fails (rejects with a KubeError; code 410 when the version is too old).
   */
  watch(resourceVersion: string, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
}

/** Calls on one namespaced custom resource. */
export interface ResourceClient {
  listWatch(namespace?: string): ListWatch;
  /** undefined when the object does not exist. */
  get(namespace: string, name: string): Promise<KubeObject | undefined>;
  create(namespace: string, body: Record<string, unknown>): Promise<KubeObject>;
  /** JSON merge patch of the object; undefined when it does not exist. */
  patch(namespace: string, name: string, patch: Record<string, unknown>): Promise<KubeObject | undefined>;
  /** JSON merge patch of the status subresource; undefined when the object does not exist. */
  patchStatus(namespace: string, name: string, patch: Record<string, unknown>): Promise<KubeObject | undefined>;
  /** false when it was already gone. */
  delete(namespace: string, name: string): Promise<boolean>;
  /**
   * Optimistic read-modify-write: `mutate` gets the object (first `current` if given, then fresh reads) and
   * returns a merge patch, or undefined for "nothing to do"; the patch is sent with the object's
   * resourceVersion as precondition and retried on conflict with a fresh read. undefined when it does not exist.
   */
  update(
    namespace: string,
    name: string,
    mutate: (current: KubeObject) => Record<string, unknown> | undefined,
    current?: KubeObject,
  ): Promise<KubeObject | undefined>;
}

export interface Kube {
  hosts: ResourceClient;
  hardwareData: ResourceClient;
  /** The firmware objects of hosts (metal3.io): created and their status written by the bridge. */
  firmwareSchemas: ResourceClient;
  hostFirmwareSettings: ResourceClient;
  hostFirmwareComponents: ResourceClient;
  hostUpdatePolicies: ResourceClient;
  /** FirmwareRollouts (tempered.dev). */
  firmwareRollouts: ResourceClient;
  /**
   * The BMC credentials Secrets: only those labelled `environment.metal3.io=baremetal` are listed and
   * watched (BMO's cache filter); `claim` adds that label to a Secret a host names. Both hand out
   * `SecretView`s: the content is dropped as each response is read.
   */
  secrets: {
    listWatch(namespace?: string): ListWatch;
    /** Labels the Secret so the watch sees it; its view, or undefined when it does not exist. */
    claim(namespace: string, name: string): Promise<SecretView | undefined>;
  };
  createEvent(body: EventBody): Promise<void>;
  /** The Lease of leader election; its calls use a small budget of their own so status traffic cannot starve it. */
  lease(namespace: string, name: string): LeaseClient;
  /** Requests made so far (for tests and the benchmark: writes per state change); Lease calls counted apart. */
  readonly counters: { reads: number; writes: number; retries: number; conflicts: number; lease: number; events: number };
}

export interface KubeOptions {
  kubeConfig: k8s.KubeConfig;
  /** Request budget shared by all calls but watches and the Lease: client-go's QPS and burst. */
  qps: number;
  /** Events' own budget (default 10 qps, burst 25). */
  eventQps?: number;
  eventBurst?: number;
  burst: number;
  /** Retries of 429/5xx/unreached before the error is thrown (default 3), and their backoff. */
  retry?: { attempts: number; baseMs: number; maxMs: number };
  /** Conflict retries of `update` (default 5). */
  conflictAttempts?: number;
  clock?: Clock;
  onRetry?: (what: string, error: KubeError, attempt: number, delayMs: number) => void;
  /** Told of every request: HTTP method, status code (0 when the apiserver was not reached), seconds, host. */
  onRequest?: (method: string, code: number, seconds: number, host: string) => void;
  /** Told how long each request waited for its budget before it was sent (0: at once): method, seconds, host. */
  onRateLimited?: (method: string, seconds: number, host: string) => void;
}

/** The HTTP method of a call, from the verb its description starts with. */
const METHOD_OF_VERB: Record<string, string> = {
  list: 'GET',
  get: 'GET',
  watch: 'GET',
  create: 'POST',
  patch: 'PATCH',
  label: 'PATCH',
  update: 'PUT',
  delete: 'DELETE',
};

/** Loads a kubeconfig: the given file, else in-cluster when running in a pod, else the default rules. */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Creates the bridge's Kubernetes client (see the file header). */
export function createKube(options: KubeOptions): Kube {
  const { kubeConfig: kc } = options;
  const clock = options.clock ?? systemClock;
  const retry = options.retry ?? { attempts: 3, baseMs: 200, maxMs: 5000 };
  const conflictAttempts = options.conflictAttempts ?? 5;
  const budget = new TokenBucket({ qps: options.qps, burst: options.burst, clock });
  const leaseBudget = new TokenBucket({ qps: 5, burst: 10, clock });
  // Events are best effort and plentiful: a budget of their own (like client-go's event recorder), so they
  // never delay a status write.
  const eventBudget = new TokenBucket({ qps: options.eventQps ?? 10, burst: options.eventBurst ?? 25, clock });
  // One pool of kept-alive connections for every call (the client's default opens one per request).
  const objects = pooledApiClient(kc, k8s.CustomObjectsApi);
  const core = pooledApiClient(kc, k8s.CoreV1Api);
  const coordination = pooledApiClient(kc, k8s.CoordinationV1Api);
  const counters = { reads: 0, writes: 0, retries: 0, conflicts: 0, lease: 0, events: 0 };
  const apiHost = (() => {
    try {
      return new URL(kc.getCurrentCluster()?.server ?? '').host;
    } catch {
      return '';
    }
  })();
  const methodOf = (what: string) => METHOD_OF_VERB[what.split(' ')[0] ?? ''] ?? 'GET';
  /** Reports one request (its success code is the one the API defines for the method: 201 for a create). */
  const report = (what: string, started: number, error?: KubeError) => {
    if (!options.onRequest) return;
    const method = methodOf(what);
    const code = error ? error.code : method === 'POST' ? 201 : 200;
    options.onRequest(method, code, (performance.now() - started) / 1000, apiHost);
  };

  /** One API call under the budget, with transient failures retried. */
  async function call<T>(what: string, kind: 'read' | 'write', fn: () => Promise<T>, bucket = budget, attempts = retry.attempts): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const queued = clock.now();
      await bucket.take();
      options.onRateLimited?.(methodOf(what), (clock.now() - queued) / 1000, apiHost);
      counters[bucket === leaseBudget ? 'lease' : bucket === eventBudget ? 'events' : kind === 'read' ? 'reads' : 'writes']++;
      const started = performance.now();
      try {
        const result = await fn();
        report(what, started);
        return result;
      } catch (raw) {
        const error = toKubeError(raw, what);
        report(what, started, error);
        if (!error.retryable || attempt >= attempts) throw error;
        const retryAfter = raw instanceof k8s.ApiException ? Number(raw.headers['retry-after']) : NaN;
        const delay = Math.min(retry.maxMs, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : retry.baseMs * 2 ** attempt);
        counters.retries++;
        options.onRetry?.(what, error, attempt + 1, delay);
        await clock.sleep(delay);
      }
    }
  }

  async function orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
    try {
      return await promise;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  function object(value: unknown, what: string): KubeObject {
    const result = asKubeObject(value);
    if (!result) throw new KubeError(0, 'InvalidResponse', `${what}: the apiserver returned no object`);
    return result;
  }

  function watchPath(apiPrefix: string, plural: string, namespace?: string): string {
    return namespace ? `${apiPrefix}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${apiPrefix}/${plural}`;
  }

  function listWatch(
    description: string,
    path: string,
    listPage: (cont: string | undefined) => Promise<{ items: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } }>,
    query: Record<string, string> = {},
  ): ListWatch {
    return {
      description,
      async list() {
        const items: unknown[] = [];
        let cont: string | undefined;
        let resourceVersion = '';
        do {
          const page = await call(`list ${description}`, 'read', () => listPage(cont));
          items.push(...page.items);
          resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
          cont = page.metadata?._continue || undefined;
        } while (cont);
        return { items, resourceVersion };
      },
      watch(resourceVersion, onEvent, signal) {
        return new Promise<void>((resolve, reject) => {
          if (signal.aborted) return resolve();
          let controller: AbortController | undefined;
          const abort = () => controller?.abort();
          signal.addEventListener('abort', abort, { once: true });
          const finish = (error: unknown) => {
            signal.removeEventListener('abort', abort);
            // The client ends a watch that was silent for 30 s with a TimeoutError: a normal end, watch again.
            const timedOut = error instanceof Error && error.name === 'TimeoutError';
            if (!error || signal.aborted || timedOut) resolve();
            else reject(toKubeError(error, `watch ${description}`));
          };
          // The server closes the stream after timeoutSeconds; spread them like client-go (5-10 minutes).
          const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
          const started = performance.now();
          new k8s.Watch(kc)
            .watch(path, { ...query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, (type: string, object: unknown) => onEvent({ type, object }), finish)
            .then((c) => {
              report(`watch ${description}`, started);
              controller = c;
              if (signal.aborted) c.abort();
            }, (error: unknown) => {
              report(`watch ${description}`, started, toKubeError(error, `watch ${description}`));
              finish(error);
            });
        });
      },
    };
  }

  function customResource(plural: string, group = METAL3_GROUP, version = METAL3_VERSION): ResourceClient {
    const ref = (namespace: string, name: string) => ({ group, version, plural, namespace, name });
    const client: ResourceClient = {
      listWatch(namespace) {
        const description = `${plural}${namespace ? ` in ${namespace}` : ''}`;
        const path = watchPath(`/apis/${group}/${version}`, plural, namespace);
        return listWatch(description, path, (cont) =>
          namespace
            ? objects.listNamespacedCustomObject({ group, version, plural, namespace, limit: 500, _continue: cont })
            : objects.listClusterCustomObject({ group, version, plural, limit: 500, _continue: cont }),
        );
      },
      async get(namespace, name) {
        const what = `get ${plural} ${namespace}/${name}`;
        const found = await orUndefined(call(what, 'read', () => objects.getNamespacedCustomObject(ref(namespace, name))));
        return found === undefined ? undefined : object(found, what);
      },
      async create(namespace, body) {
        const what = `create ${plural} ${namespace}`;
        return object(await call(what, 'write', () => objects.createNamespacedCustomObject({ group, version, plural, namespace, body })), what);
      },
      async patch(namespace, name, patch) {
        const what = `patch ${plural} ${namespace}/${name}`;
        const result = await orUndefined(call(what, 'write', () => objects.patchNamespacedCustomObject({ ...ref(namespace, name), body: patch }, mergePatch())));
        return result === undefined ? undefined : object(result, what);
      },
      async patchStatus(namespace, name, patch) {
        const what = `patch ${plural}/status ${namespace}/${name}`;
        const result = await orUndefined(call(what, 'write', () => objects.patchNamespacedCustomObjectStatus({ ...ref(namespace, name), body: patch }, mergePatch())));
        return result === undefined ? undefined : object(result, what);
      },
      async delete(namespace, name) {
        const what = `delete ${plural} ${namespace}/${name}`;
        return (await orUndefined(call(what, 'write', () => objects.deleteNamespacedCustomObject(ref(namespace, name))))) !== undefined;
      },
      async update(namespace, name, mutate, current) {
        let base = current;
        for (let attempt = 1; ; attempt++) {
          base ??= await client.get(namespace, name);
          if (!base) return undefined;
          const patch = mutate(base);
          if (!patch) return base;
          const metadata = { ...((patch['metadata'] as Record<string, unknown> | undefined) ?? {}), resourceVersion: base.metadata.resourceVersion };
          try {
            return await client.patch(namespace, name, { ...patch, metadata });
          } catch (error) {
            if (!isConflict(error) || attempt >= conflictAttempts) throw error;
            counters.conflicts++;
            base = undefined;
          }
        }
      },
    };
    return client;
  }

  return {
    hosts: customResource('baremetalhosts'),
    hardwareData: customResource('hardwaredata'),
    firmwareSchemas: customResource('firmwareschemas'),
    hostFirmwareSettings: customResource('hostfirmwaresettings'),
    hostFirmwareComponents: customResource('hostfirmwarecomponents'),
    hostUpdatePolicies: customResource('hostupdatepolicies'),
    firmwareRollouts: customResource('firmwarerollouts', TEMPERED_GROUP, TEMPERED_VERSION),
    secrets: {
      listWatch(namespace) {
        const description = `secrets${namespace ? ` in ${namespace}` : ''} labelled ${SECRET_ENVIRONMENT_SELECTOR}`;
        const labelSelector = SECRET_ENVIRONMENT_SELECTOR;
        return listWatch(
          description,
          watchPath('/api/v1', 'secrets', namespace),
          (cont) =>
            namespace
              ? core.listNamespacedSecret({ namespace, labelSelector, limit: 500, _continue: cont })
              : core.listSecretForAllNamespaces({ labelSelector, limit: 500, _continue: cont }),
          { labelSelector },
        );
      },
      async claim(namespace, name) {
        const what = `label secret ${namespace}/${name}`;
        const body = { metadata: { labels: { [SECRET_ENVIRONMENT_LABEL]: SECRET_ENVIRONMENT_VALUE } } };
        const labelled = await orUndefined(call(what, 'write', () => core.patchNamespacedSecret({ namespace, name, body }, mergePatch())));
        return labelled === undefined ? undefined : secretView(labelled);
      },
    },
    async createEvent(body) {
      await call(`create event ${body.metadata.namespace}/${body.involvedObject.name}`, 'write', () =>
        core.createNamespacedEvent({ namespace: body.metadata.namespace, body: body as unknown as k8s.CoreV1Event }),
      eventBudget);
    },
    lease(namespace, name) {
      const toRecord = (lease: k8s.V1Lease): LeaseRecord => ({
        holderIdentity: lease.spec?.holderIdentity ?? undefined,
        leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? undefined,
        acquireTime: lease.spec?.acquireTime ? new Date(lease.spec.acquireTime).toISOString() : undefined,
        renewTime: lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : undefined,
        leaseTransitions: lease.spec?.leaseTransitions ?? undefined,
        resourceVersion: lease.metadata?.resourceVersion,
      });
      const toLease = (record: LeaseRecord): k8s.V1Lease => ({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, resourceVersion: record.resourceVersion },
        spec: {
          holderIdentity: record.holderIdentity,
          leaseDurationSeconds: record.leaseDurationSeconds,
          acquireTime: record.acquireTime ? new k8s.V1MicroTime(record.acquireTime) : undefined,
          renewTime: record.renewTime ? new k8s.V1MicroTime(record.renewTime) : undefined,
          leaseTransitions: record.leaseTransitions,
        },
      });
      const what = `lease ${namespace}/${name}`;
      return {
        async get() {
          const lease = await orUndefined(call(`get ${what}`, 'read', () => coordination.readNamespacedLease({ namespace, name }), leaseBudget, 0));
          return lease && toRecord(lease);
        },
        async create(record) {
          return toRecord(await call(`create ${what}`, 'write', () => coordination.createNamespacedLease({ namespace, body: toLease(record) }), leaseBudget, 0));
        },
        async update(record) {
          return toRecord(await call(`update ${what}`, 'write', () => coordination.replaceNamespacedLease({ namespace, name, body: toLease(record) }), leaseBudget, 0));
        },
      };
    },
    counters,
  };
}
