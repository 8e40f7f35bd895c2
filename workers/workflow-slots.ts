/**
 * How many tasks the worker runs at once: its slots, handed to the SDK as a tuner.
 *
 * A workflow task holds its slot while its local activities (the BMC calls) run, so the workflow-task slots
 * bound how many hosts talk to their BMCs at once. No fixed count suits every fleet (docs/performance.md,
 * "Workflow-task slots" and "Slots that follow the CPU"):
 * - When BMCs answer at once, the tasks are CPU work. More slots than the cores can serve only queue work in
 *   the Temporal server and the apiserver: at 1,000 simulated hosts the status lag p99 was 4.2 s with 100 fixed
 *   slots, 1.4-2.2 s with 40 and about 1 s with 20. Under the supplier a busy machine runs the minimum, and a
 *   minimum of 10 halved the lag of one of 20, and the fleet took about as long ("A floor of 10 slots").
 * - When BMCs take seconds to change power, a task mostly waits. Then the slots bound the fleet's pace: 20 fixed
 *   slots took 50 sushy-tools hosts with stock power delays twice as long as 40.
 *
 * So the slots follow the CPU (the SDK's resource-based supplier): MIN are always there, and one more is handed
 * out, up to MAX, only while the CPU is under TARGET. The SDK reads the CPU of the container's cgroup when it has
 * a CPU limit, else of the whole machine. MIN equal to MAX gives a fixed count.
 */
import type { WorkerTuner } from '@temporalio/worker';
import { z } from 'zod';

/** The defaults, and why. */
export const WORKFLOW_SLOT_DEFAULTS = {
  /**
   * Always there: enough to keep a busy 2-core machine's cores fed at 1,000 hosts, few enough that the status lag
   * stays short. Small fleets of slow BMCs on a busy machine pay for it (12-30 % slower at 50 sushy-tools hosts).
   */
  min: 10,
  /** The most: a fleet of slow BMCs gets its pace from here. */
  max: 100,
  /** The CPU share (0-1) under which slots above MIN are handed out. */
  cpuTarget: 0.8,
} as const;

/**
 * The memory share (0-1) above which no slot past MIN is handed out. High on purpose: the sticky cache is
 * what fills the worker's memory (workers/cache-size.ts sizes it to the limit), and fewer tasks would not empty it.
 */
export const MEMORY_TARGET = 0.95;

const count = z.coerce.number().int().min(2);

export const WorkflowSlotsEnvSchema = z.object({
  /** Workflow-task slots always handed out. Default 10, or MAX when MAX is lower. */
  TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: count.optional(),
  /** The most workflow-task slots. Default 100. */
  TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: count.default(WORKFLOW_SLOT_DEFAULTS.max),
  /** The CPU share (0-1] under which workflow-task slots above the minimum are handed out. Default 0.8. */
  TEMPERED_WORKFLOW_TASK_CPU_TARGET: z.coerce.number().gt(0).max(1).default(WORKFLOW_SLOT_DEFAULTS.cpuTarget),
  /** Activities (and, separately, local activities) at once. */
  TEMPERED_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().positive().default(200),
});

export type WorkflowSlotsConfig = z.infer<typeof WorkflowSlotsEnvSchema>;

/** A minimum above the maximum, said in the environment's terms; undefined when the two agree. */
export function workflowSlotsProblem(config: WorkflowSlotsConfig): string | undefined {
  const min = config.TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS;
  const max = config.TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS;
  return min !== undefined && min > max ? `the minimum (${min}) is above TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS (${max})` : undefined;
}

/** For a schema that includes WorkflowSlotsEnvSchema: reports a minimum above the maximum on the minimum. */
export function refineWorkflowSlots(config: WorkflowSlotsConfig, ctx: z.RefinementCtx): void {
  const problem = workflowSlotsProblem(config);
  if (problem) ctx.addIssue({ code: 'custom', path: ['TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS'], message: problem });
}

export interface WorkerSlots {
  tuner: WorkerTuner;
  /** For the start-up log line. */
  summary: { workflowTasks: string; activities: number };
}

/** The worker's tuner for this configuration (checked by refineWorkflowSlots first). */
export function workerSlots(config: WorkflowSlotsConfig): WorkerSlots {
  const problem = workflowSlotsProblem(config);
  if (problem) throw new Error(`TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: ${problem}`);
  const max = config.TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS;
  const min = config.TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS ?? Math.min(WORKFLOW_SLOT_DEFAULTS.min, max);
  const activities = config.TEMPERED_MAX_CONCURRENT_ACTIVITIES;
  const cpu = config.TEMPERED_WORKFLOW_TASK_CPU_TARGET;
  return {
    tuner: {
      workflowTaskSlotSupplier: min === max
        ? { type: 'fixed-size', numSlots: max }
        : {
            type: 'resource-based',
            tunerOptions: { targetCpuUsage: cpu, targetMemoryUsage: MEMORY_TARGET },
            minimumSlots: min,
            maximumSlots: max,
            // The SDK's default for workflow tasks: the CPU a task adds shows within its own run.
            rampThrottle: 10,
          },
      activityTaskSlotSupplier: { type: 'fixed-size', numSlots: activities },
      localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: activities },
      // No Nexus endpoint is served; the SDK still asks for a supplier.
      nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    },
    summary: {
      workflowTasks: min === max ? `${max} (fixed)` : `${min}-${max}, more while the CPU is under ${Math.round(cpu * 100)} %`,
      activities,
    },
  };
}
