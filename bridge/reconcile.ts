/**
 * Reconcile of one BareMetalHost key: own it (add the `baremetalhost.metal3.io` finalizer, as BMO does, not
 * while paused or deleting), compute its `HostDesired`, and send it to the host workflow only when something
 * the workflow acts on changed since the last send: the user's intent (spec, annotations, Secret version,
 * deletion), or `.status` found empty (so the workflow republishes it). Status writes of our own, finalizer
 * changes and unchanged resyncs send nothing.
 *
 * The credentials Secret a host names is labelled `environment.metal3.io=baremetal` when the bridge's
 * watch (which sees only labelled Secrets, as BMO's cache) does not have it yet; a Secret that does not
 * exist is looked for again with a backoff, since its later creation (unlabelled) reaches no watch.
 */
import type { Logger } from 'pino';
import type { HostDesired } from '../domain/host-model.ts';
import { PAUSED_ANNOTATION, STATUS_ANNOTATION } from './annotations.ts';
import { computeDesired, hasStatus } from './desired.ts';
import type { ResourceClient } from './kube.ts';
import { HOST_FINALIZER, credentialsNameOf, hasFinalizer, objectKey, splitKey, type HostObject, type SecretView } from './objects.ts';
import { jsonEqual } from './status.ts';
import type { ReconcileOutcome } from './work-queue.ts';

/** What the bridge last sent for a host, per object identity (uid). */
interface Sent {
  uid: string;
  intent: string;
  /** The missing-status fingerprint sent while `.status` was empty; cleared when a status is seen again. */
  missingStatus: string | undefined;
  generation: number;
}

export interface ReconcilerDeps {
  hosts: { get(key: string): HostObject | undefined };
  secrets: { get(key: string): SecretView | undefined };
  /** Labels a credentials Secret so the watch sees it (kube.ts `secrets.claim`); undefined: no such Secret. */
  claimSecret: (namespace: string, name: string) => Promise<SecretView | undefined>;
  kube: Pick<ResourceClient, 'update'>;
  /** Signal-with-start of the host workflow. */
  send: (desired: HostDesired, why: SendReason) => Promise<void>;
  /** Whether a host counts towards the provisioning limit (told to its workflow in HostDesired). */
  countsTowardLimit?: (host: HostObject) => boolean;
  logger: Logger;
}

export type SendReason = 'first' | 'changed' | 'status-missing';

/** How soon a host whose credentials Secret is missing looks for it again: doubling, capped at 5 minutes. */
export function missingSecretRetryMs(attempt: number): number {
  return Math.min(300_000, 2000 * 2 ** Math.min(attempt - 1, 10));
}

/** Reconciles hosts and remembers what was sent (see the file header). */
export class HostReconciler {
  readonly #deps: ReconcilerDeps;
  readonly #sent = new Map<string, Sent>();
  readonly #invalidLogged = new Map<string, string>();
  /** Hosts whose credentials Secret was not found, and how many times in a row. */
  readonly #secretMissing = new Map<string, number>();
  /** Signals sent, by reason, and reconciles that sent nothing: for tests and the benchmark. */
  readonly counters = { first: 0, changed: 0, 'status-missing': 0, unchanged: 0 };

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /** The generation last sent for the host (the workflow's view; conditions' observedGeneration). */
  sentGeneration(key: string, uid: string): number | undefined {
    const sent = this.#sent.get(key);
    return sent?.uid === uid ? sent.generation : undefined;
  }

  /** Forgets everything sent (a new leadership term starts from scratch: the first signal adopts). */
  reset(): void {
    this.#sent.clear();
    this.#invalidLogged.clear();
    this.#secretMissing.clear();
  }

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const { hosts, secrets, kube, send, logger } = this.#deps;
    let host = hosts.get(key);
    if (!host) {
      this.#sent.delete(key);
      this.#invalidLogged.delete(key);
      this.#secretMissing.delete(key);
      return;
    }
    const deleting = Boolean(host.metadata.deletionTimestamp);
    // Released by us (or never ours): nothing left to do for this object.
    if (deleting && !hasFinalizer(host, HOST_FINALIZER)) return;

    const paused = host.metadata.annotations?.[PAUSED_ANNOTATION] !== undefined;
    if (!deleting && !paused && !hasFinalizer(host, HOST_FINALIZER)) {
      const { namespace, name } = splitKey(key);
      const updated = await kube.update(
        namespace,
        name,
        (current) =>
          hasFinalizer(current, HOST_FINALIZER) || current.metadata.deletionTimestamp || current.metadata.uid !== host?.metadata.uid
            ? undefined
            : { metadata: { finalizers: [...(current.metadata.finalizers ?? []), HOST_FINALIZER] } },
        host,
      );
      if (!updated) return;
      logger.info({ host: key }, 'added finalizer');
      host = updated;
    }

    // BMO: with a status present, the status annotation is stale; it is removed (its content was never used).
    if (!paused && hasStatus(host) && host.metadata.annotations?.[STATUS_ANNOTATION] !== undefined) {
      const { namespace, name } = splitKey(key);
      const updated = await kube.update(namespace, name, (current) =>
        current.metadata.uid === host?.metadata.uid && current.metadata.annotations?.[STATUS_ANNOTATION] !== undefined ? { metadata: { annotations: { [STATUS_ANNOTATION]: null } } } : undefined,
      host);
      if (!updated) return;
      logger.info({ host: key }, 'removed the status annotation of a host that has a status');
      host = updated;
    }

    const { claimed, retry } = await this.#claimCredentials(key, host);
    const uid = host.metadata.uid ?? '';
    let sent = this.#sent.get(key);
    if (sent && sent.uid !== uid) sent = undefined;
    const secret = (ns: string, name: string) => secrets.get(objectKey(ns, name)) ?? (claimed?.namespace === ns && claimed.name === name ? claimed : undefined);
    const result = computeDesired({ host, secret, adopt: sent === undefined, countsTowardLimit: this.#deps.countsTowardLimit });
    if (!result.ok) {
      const version = host.metadata.resourceVersion ?? '';
      if (this.#invalidLogged.get(key) !== version) {
        this.#invalidLogged.set(key, version);
        logger.warn({ host: key, problem: result.problem }, 'cannot read the host; waiting for a change');
      }
      return retry;
    }

    const reason: SendReason | undefined =
      sent === undefined ? 'first'
      : sent.intent !== result.intent ? 'changed'
      : result.missingStatus !== undefined && sent.missingStatus !== result.missingStatus ? 'status-missing'
      : undefined;
    if (reason === undefined) {
      // A status is present again: a later loss of it must be reported again.
      if (sent && result.missingStatus === undefined) sent.missingStatus = undefined;
      this.counters.unchanged++;
      return retry;
    }
    await send(result.desired, reason);
    this.counters[reason]++;
    this.#sent.set(key, { uid, intent: result.intent, missingStatus: result.missingStatus, generation: result.desired.generation });
    logger.debug({ host: key, reason, generation: result.desired.generation }, 'sent desired state to the host workflow');
    return retry;
  }

  /**
   * Makes sure the watch will see the host's credentials Secret: labels it when the cache lacks it. Returns
   * its view when it was labelled now (the watch delivers it shortly), and a retry when it does not exist.
   */
  async #claimCredentials(key: string, host: HostObject): Promise<{ claimed?: SecretView; retry?: ReconcileOutcome }> {
    const credentialsName = credentialsNameOf(host);
    const namespace = host.metadata.namespace ?? '';
    if (!credentialsName || this.#deps.secrets.get(objectKey(namespace, credentialsName))) {
      this.#secretMissing.delete(key);
      return {};
    }
    const claimed = await this.#deps.claimSecret(namespace, credentialsName);
    if (claimed) {
      this.#secretMissing.delete(key);
      this.#deps.logger.info({ host: key, secret: credentialsName }, 'labelled the credentials Secret so the bridge watches it');
      return { claimed };
    }
    const attempt = (this.#secretMissing.get(key) ?? 0) + 1;
    this.#secretMissing.set(key, attempt);
    return { retry: { requeueAfterMs: missingSecretRetryMs(attempt) } };
  }
}

/**
 * Whether an update can change what is sent to the workflow (BMO's event filter, plus the status's presence):
 * status writes, ours above all, are skipped unless the status appeared or vanished.
 */
export function mayChangeDesired(old: HostObject, next: HostObject): boolean {
  const a = old.metadata;
  const b = next.metadata;
  return (
    a.uid !== b.uid ||
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    !jsonEqual(a.annotations ?? {}, b.annotations ?? {}) ||
    !jsonEqual(a.finalizers ?? [], b.finalizers ?? []) ||
    hasStatus(old) !== hasStatus(next)
  );
}
