/**
 * The bridge's side of FirmwareRollouts: a new rollout starts its workflow (firmwareRolloutWorkflow) with the
 * BareMetalHosts its selector picks in its namespace at that moment, in name order; later spec changes (paused,
 * abort) and the object's deletion are signalled to it (`syncRollout`). The workflow's status comes back through
 * `publishStatus` (the bridge's activity): written to `.status` when changed, and when the failure budget paused
 * the rollout, `spec.paused` is set (once per such pause) so that a resume is `spec.paused: false`, by kubectl
 * or `tempered rollout resume`. A rollout whose status shows it ended is never started again.
 */
import type { Logger } from 'pino';
import { FirmwareRolloutSpecSchema, type LabelSelector } from '../domain/firmware-rollout.schema.ts';
import type { RolloutControl, RolloutHostKey, RolloutStatus, RolloutWork } from '../domain/firmware-rollout.ts';
import type { HostRef } from '../domain/host-model.ts';
import type { HostCache } from './host-cache.ts';
import type { Kube } from './kube.ts';
import { objectKey, splitKey, type HostObject, type KubeObject } from './objects.ts';
import { jsonEqual, mergeDiff } from './status.ts';

/** The annotation recording the last failure-budget pause the bridge turned into `spec.paused: true`. */
export const BUDGET_PAUSE_ANNOTATION = 'tempered.dev/failure-budget-pause';

const FINAL_PHASES = ['Completed', 'Aborted', 'Failed'];

export interface RolloutObject extends KubeObject {
  spec?: unknown;
  status?: Record<string, unknown> & { phase?: string };
}

/** What the bridge sends a rollout workflow when it starts it. */
export interface RolloutStart {
  ref: HostRef;
  work: RolloutWork;
  strategy: NonNullable<ReturnType<typeof FirmwareRolloutSpecSchema.parse>['strategy']> | undefined;
  hosts: RolloutHostKey[];
  control: RolloutControl;
}

export interface RolloutBridgeDeps {
  rollouts: HostCache<RolloutObject>;
  hosts: { list(): HostObject[] };
  kube: Pick<Kube, 'firmwareRollouts'>;
  /** Starts the rollout's workflow, or signals it when it runs; `alreadyRan`: a closed run of that ID exists. */
  start: (start: RolloutStart) => Promise<{ alreadyRan: boolean }>;
  signal: (ref: { namespace: string; name: string }, control: RolloutControl) => Promise<void>;
  logger: Logger;
}

/** Whether `labels` match a label selector (every matchLabels pair, every expression). */
export function matchesSelector(labels: Readonly<Record<string, string>> | undefined, selector: LabelSelector): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const value = l[e.key];
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(value as string))) return false;
    if (e.operator === 'NotIn' && has && values.includes(value as string)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const byName = new Intl.Collator('en', { numeric: true });

/** The hosts a rollout takes: of its namespace, matching its selector, not being deleted, in name order. */
export function selectHosts(hosts: readonly HostObject[], namespace: string, selector: LabelSelector): RolloutHostKey[] {
  return hosts
    .filter((h) => h.metadata.namespace === namespace && !h.metadata.deletionTimestamp && matchesSelector(h.metadata.labels, selector))
    .map((h) => ({ namespace, name: h.metadata.name }))
    .sort((a, b) => byName.compare(a.name, b.name));
}

/** The spec fields that steer a running rollout. */
export function controlOf(object: RolloutObject): RolloutControl | undefined {
  const spec = FirmwareRolloutSpecSchema.safeParse(object.spec);
  if (!spec.success) return undefined;
  return { generation: object.metadata.generation ?? 0, paused: spec.data.paused === true, abort: spec.data.abort === true };
}

export class RolloutBridge {
  readonly #deps: RolloutBridgeDeps;
  readonly #sent = new Map<string, { uid: string; control: RolloutControl }>();

  constructor(deps: RolloutBridgeDeps) {
    this.#deps = deps;
  }

  /** Forgets what was sent (a new leadership term signals every rollout again). */
  reset(): void {
    this.#sent.clear();
  }

  async reconcile(key: string): Promise<void> {
    const { logger } = this.#deps;
    const object = this.#deps.rollouts.get(key);
    const { namespace, name } = splitKey(key);
    const sent = this.#sent.get(key);
    if (!object) {
      if (sent) await this.#deps.signal({ namespace, name }, { ...sent.control, gone: true });
      this.#sent.delete(key);
      return;
    }
    const uid = object.metadata.uid ?? '';
    const parsed = FirmwareRolloutSpecSchema.safeParse(object.spec);
    const control = controlOf(object);
    if (!parsed.success || !control) {
      logger.warn({ rollout: key, problem: parsed.error?.message }, 'cannot read the FirmwareRollout; waiting for a change');
      return;
    }
    if (sent && sent.uid === uid && jsonEqual(sent.control, control)) return;
    if (sent?.uid !== uid) {
      if (FINAL_PHASES.includes(object.status?.phase ?? '')) {
        this.#sent.set(key, { uid, control });
        return;
      }
      const spec = parsed.data;
      const hosts = selectHosts(this.#deps.hosts.list(), namespace, spec.selector);
      const { alreadyRan } = await this.#deps.start({
        ref: { namespace, name, uid },
        work: { updates: spec.updates ?? [], settings: spec.settings ?? {} },
        strategy: spec.strategy,
        hosts,
        control,
      });
      if (alreadyRan) {
        logger.warn({ rollout: key }, 'a rollout of this name already ran to its end; not started again');
        await this.#writeStatus(object, {
          phase: 'Failed',
          message: `a FirmwareRollout named ${name} already ran to its end in ${namespace} (see its history in Temporal); create it under a new name`,
        });
      } else {
        logger.info({ rollout: key, hosts: hosts.length }, 'started the rollout workflow');
      }
    } else {
      await this.#deps.signal({ namespace, name }, control);
      logger.info({ rollout: key, control }, 'signalled the rollout workflow');
    }
    this.#sent.set(key, { uid, control });
  }

  async #writeStatus(object: RolloutObject, status: Record<string, unknown>): Promise<void> {
    const patch = mergeDiff(object.status ?? {}, { ...(object.status ?? {}), ...status });
    if (patch === undefined) return;
    const result = await this.#deps.kube.firmwareRollouts.patchStatus(object.metadata.namespace ?? '', object.metadata.name, { status: patch });
    if (result) this.#deps.rollouts.wrote(result as RolloutObject);
  }

  /** The workflow's status, written; `spec.paused` set once per failure-budget pause. */
  async publishStatus(ref: HostRef, status: RolloutStatus, log: Logger): Promise<{ gone: boolean }> {
    const key = objectKey(ref.namespace, ref.name);
    const object = this.#deps.rollouts.get(key);
    if (!object || object.metadata.uid !== ref.uid) return { gone: true };
    const { budgetPauses, budgetPauseActive, ...fields } = status;
    const patch = mergeDiff(object.status ?? {}, fields);
    if (patch !== undefined) {
      const result = await this.#deps.kube.firmwareRollouts.patchStatus(ref.namespace, ref.name, { status: patch });
      if (!result || result.metadata.uid !== ref.uid) return { gone: true };
      this.#deps.rollouts.wrote(result as RolloutObject);
      log.info({ rollout: key, phase: status.phase, progress: status.progress }, 'rollout status written');
    }
    const recorded = object.metadata.annotations?.[BUDGET_PAUSE_ANNOTATION];
    if (budgetPauseActive && recorded !== String(budgetPauses)) {
      const current = this.#deps.rollouts.get(key) ?? object;
      const result = await this.#deps.kube.firmwareRollouts.patch(ref.namespace, ref.name, {
        metadata: { annotations: { [BUDGET_PAUSE_ANNOTATION]: String(budgetPauses) } },
        spec: { paused: true },
      });
      if (result) this.#deps.rollouts.wrote(result as RolloutObject);
      log.info({ rollout: key, pause: budgetPauses, wasPaused: (current.spec as { paused?: boolean } | undefined)?.paused }, 'failure budget used: rollout paused');
    }
    return { gone: false };
  }
}
