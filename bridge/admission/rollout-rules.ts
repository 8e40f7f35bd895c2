/**
 * FirmwareRollout admission rules: what the webhook refuses beyond the CRD's schema, as pure functions over the
 * raw object. A rollout must have work and a selector that picks on purpose, valid components and image URLs,
 * waves that climb to 100; once created only `paused` and `abort` change, and an abort is final.
 */
import { FirmwareRolloutSpecSchema, type FirmwareRolloutSpec } from '../../domain/firmware-rollout.schema.ts';
import { componentProblem } from '../firmware-status.ts';
import { record } from './read.ts';

export const ROLLOUT_RULES = {
  'rollout-spec': 'the spec must match the FirmwareRollout schema',
  'rollout-work': 'spec.updates or spec.settings must ask for something',
  'rollout-selector': 'spec.selector must name labels or expressions (an empty selector would take every host)',
  'rollout-selector-values': 'In and NotIn need values; Exists and DoesNotExist take none',
  'rollout-component': "each update's component is bios, bmc or nic:<id>",
  'rollout-url': "each update's url is an http or https URL",
  'rollout-waves': 'strategy.waves climb strictly and end at 100',
  'rollout-immutable': 'on update, only spec.paused and spec.abort may change',
  'rollout-abort-final': 'on update, spec.abort cannot be turned off once set',
} as const;
export type RolloutRuleId = keyof typeof ROLLOUT_RULES;

export interface RolloutViolation {
  rule: RolloutRuleId;
  message: string;
}

function parse(object: unknown): { spec?: FirmwareRolloutSpec; violations: RolloutViolation[] } {
  const result = FirmwareRolloutSpecSchema.safeParse(record(object)?.spec);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    return { violations: [{ rule: 'rollout-spec', message: issues }] };
  }
  return { spec: result.data, violations: [] };
}

/** The problems of a FirmwareRollout being created. */
export function validateRolloutCreate(object: unknown): RolloutViolation[] {
  const { spec, violations } = parse(object);
  if (!spec) return violations;
  const out: RolloutViolation[] = [];
  if ((spec.updates ?? []).length === 0 && Object.keys(spec.settings ?? {}).length === 0) {
    out.push({ rule: 'rollout-work', message: 'spec.updates and spec.settings are both empty: the rollout would do nothing' });
  }
  const labels = Object.keys(spec.selector.matchLabels ?? {}).length;
  const expressions = spec.selector.matchExpressions ?? [];
  if (labels === 0 && expressions.length === 0) {
    out.push({ rule: 'rollout-selector', message: 'spec.selector is empty: name matchLabels or matchExpressions (to take every host, say so with an expression)' });
  }
  for (const [i, e] of expressions.entries()) {
    const hasValues = (e.values ?? []).length > 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') !== hasValues) {
      out.push({ rule: 'rollout-selector-values', message: `spec.selector.matchExpressions[${i}]: ${e.operator} ${hasValues ? 'takes no values' : 'needs values'}` });
    }
  }
  for (const [i, u] of (spec.updates ?? []).entries()) {
    const problem = componentProblem(u.component);
    if (problem) out.push({ rule: 'rollout-component', message: `spec.updates[${i}]: ${problem}` });
    const protocol = URL.canParse(u.url) ? new URL(u.url).protocol : '';
    if (protocol !== 'http:' && protocol !== 'https:') out.push({ rule: 'rollout-url', message: `spec.updates[${i}].url ${JSON.stringify(u.url)} is not an http or https URL` });
  }
  const waves = spec.strategy?.waves;
  if (waves && (waves.length === 0 || waves.some((w, i) => i > 0 && w <= (waves[i - 1] ?? 0)) || waves.at(-1) !== 100)) {
    out.push({ rule: 'rollout-waves', message: `spec.strategy.waves ${JSON.stringify(waves)} must climb strictly and end at 100 (e.g. [25, 50, 100])` });
  }
  return out;
}

const steering = (spec: FirmwareRolloutSpec) => {
  const { paused: _paused, abort: _abort, ...rest } = spec;
  return JSON.stringify(rest);
};

/** The problems of an update of a FirmwareRollout. */
export function validateRolloutUpdate(oldObject: unknown, newObject: unknown): RolloutViolation[] {
  const before = parse(oldObject).spec;
  const { spec, violations } = parse(newObject);
  if (!spec) return violations;
  if (!before) return validateRolloutCreate(newObject);
  const out: RolloutViolation[] = [];
  if (steering(before) !== steering(spec)) {
    out.push({ rule: 'rollout-immutable', message: 'only spec.paused and spec.abort can change once a rollout exists: create a new FirmwareRollout' });
  }
  if (before.abort === true && spec.abort !== true) out.push({ rule: 'rollout-abort-final', message: 'spec.abort cannot be turned off: an aborted rollout stays aborted' });
  return out;
}
