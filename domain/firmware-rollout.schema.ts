/**
 * FirmwareRollout (`tempered.dev/v1alpha1`): firmware updates and/or BIOS settings taken across the
 * BareMetalHosts a label selector picks (in the rollout's namespace), a canary first, then in waves, never more
 * than `maxUnavailable` hosts at once, paused when `failureBudget` hosts failed; paused, resumed and aborted by
 * patching the spec. Tempered's own kind: Metal3 has nothing like it. Its CRD is generated from this schema
 * like the Metal3 ones (deploy/generate-crds.ts).
 */
import { z } from 'zod';
import { FirmwareUpdateSchema } from './host-firmware-components.schema.ts';
import { AGE_COLUMN, RESOURCE_META_SHAPE, conditionList, dateTime, integer, intOrString, type CrdDefinition } from './k8s.schema.ts';
import { TEMPERED_GROUP } from './names.ts';

/** A label selector requirement (metav1.LabelSelectorRequirement). */
export const LabelSelectorRequirementSchema = z.object({
  key: z.string(),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});

/** metav1.LabelSelector: every label of `matchLabels` and every expression must match. */
export const LabelSelectorSchema = z.object({
  matchExpressions: z.array(LabelSelectorRequirementSchema).optional(),
  matchLabels: z.record(z.string(), z.string()).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

export const RolloutStrategySchema = z.object({
  canary: integer({ minimum: 0 }).default(1).describe('Hosts updated first, alone, before any wave.'),
  waves: z
    .array(integer({ minimum: 1, maximum: 100 }))
    .default([100])
    .describe('Cumulative percentages of the hosts after the canary, one wave each (e.g. 25, 50, 100).'),
  maxUnavailable: integer({ minimum: 1 }).default(1).describe('Hosts being updated at once, at most.'),
  failureBudget: integer({ minimum: 1 }).default(1).describe('Failed hosts (since the last resume) that pause the rollout.'),
  hostTimeoutMinutes: integer({ minimum: 1 }).default(180).describe('A host that has not answered by then counts as failed.'),
});
export type RolloutStrategy = z.infer<typeof RolloutStrategySchema>;

export const FirmwareRolloutSpecSchema = z.object({
  selector: LabelSelectorSchema.describe('Which BareMetalHosts of this namespace the rollout takes.'),
  updates: z.array(FirmwareUpdateSchema).optional().describe('Firmware to flash on each host, in order (bios, bmc, nic:<id>).'),
  settings: z.record(z.string(), intOrString()).optional().describe('BIOS settings to apply on each host.'),
  strategy: RolloutStrategySchema.optional(),
  paused: z.boolean().optional().describe('No new host is started while true; set by Tempered when the failure budget is used.'),
  abort: z.boolean().optional().describe('Stops the rollout for good: hosts in flight finish their current flash, no new one starts.'),
});
export type FirmwareRolloutSpec = z.infer<typeof FirmwareRolloutSpecSchema>;

export const ROLLOUT_PHASES = ['Pending', 'Progressing', 'Paused', 'Completed', 'Aborted', 'Failed'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

export const ROLLOUT_HOST_STATES = ['Pending', 'InProgress', 'Updated', 'Failed', 'Skipped', 'Aborted'] as const;
export type RolloutHostState = (typeof ROLLOUT_HOST_STATES)[number];

const counts = {
  total: integer({ minimum: 0 }),
  updated: integer({ minimum: 0 }),
  inProgress: integer({ minimum: 0 }),
  failed: integer({ minimum: 0 }),
  pending: integer({ minimum: 0 }),
  skipped: integer({ minimum: 0 }),
  aborted: integer({ minimum: 0 }),
};

export const RolloutWaveStatusSchema = z.object({
  name: z.string().describe('canary, wave 1, wave 2, ...'),
  ...counts,
});

export const RolloutHostStatusSchema = z.object({
  name: z.string(),
  wave: integer({ minimum: 0 }).describe('Index into status.waves.'),
  state: z.enum(ROLLOUT_HOST_STATES),
  message: z.string().optional(),
  attempt: integer({ minimum: 0 }).optional(),
  startedAt: dateTime().optional(),
  finishedAt: dateTime().optional(),
  versions: z.array(z.object({ component: z.string(), version: z.string() })).optional(),
});

export const FirmwareRolloutStatusSchema = z.object({
  phase: z.enum(ROLLOUT_PHASES),
  message: z.string().optional(),
  progress: z.string().optional().describe('Hosts done of all, for kubectl get (e.g. 12/30).'),
  ...counts,
  currentWave: integer({ minimum: 0 }).optional(),
  currentWaveName: z.string().optional(),
  waves: z.array(RolloutWaveStatusSchema).optional(),
  hosts: z.array(RolloutHostStatusSchema).optional(),
  observedGeneration: integer({ format: 'int64', minimum: 0 }).optional(),
  startedAt: dateTime().optional(),
  completedAt: dateTime().optional(),
  conditions: conditionList({ keyed: true }).optional(),
});
export type FirmwareRolloutStatus = z.infer<typeof FirmwareRolloutStatusSchema>;

export const FirmwareRolloutSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: FirmwareRolloutSpecSchema,
    status: FirmwareRolloutStatusSchema.optional(),
  })
  .describe('Firmware updates and BIOS settings rolled out across BareMetalHosts in waves.');
export type FirmwareRollout = z.infer<typeof FirmwareRolloutSchema>;

export const FirmwareRolloutCrd: CrdDefinition = {
  group: TEMPERED_GROUP,
  kind: 'FirmwareRollout',
  listKind: 'FirmwareRolloutList',
  plural: 'firmwarerollouts',
  singular: 'firmwarerollout',
  shortNames: ['fwr'],
  scope: 'Namespaced',
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Pending, Progressing, Paused, Completed, Aborted or Failed' },
    { name: 'Progress', type: 'string', jsonPath: '.status.progress', description: 'Hosts done of all' },
    { name: 'Wave', type: 'string', jsonPath: '.status.currentWaveName', description: 'The wave being rolled out' },
    { name: 'Failed', type: 'integer', jsonPath: '.status.failed', description: 'Hosts whose update failed' },
    AGE_COLUMN,
  ],
  subresources: { status: true },
  schema: FirmwareRolloutSchema,
};
