import { describe, expect, it } from 'vitest';
import { WorkflowSlotsEnvSchema, refineWorkflowSlots, workerSlots } from './workflow-slots.ts';

const Schema = WorkflowSlotsEnvSchema.superRefine(refineWorkflowSlots);
const slots = (env: Record<string, string>) => workerSlots(Schema.parse(env));

describe('workerSlots: the worker tuner from the environment', () => {
  it('by default, 10 workflow-task slots always and up to 100 while the CPU is under 80 %', () => {
    const { tuner, summary } = slots({});
    expect(tuner).toMatchObject({
      workflowTaskSlotSupplier: {
        type: 'resource-based',
        minimumSlots: 10,
        maximumSlots: 100,
        tunerOptions: { targetCpuUsage: 0.8, targetMemoryUsage: 0.95 },
      },
      activityTaskSlotSupplier: { type: 'fixed-size', numSlots: 200 },
      localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 200 },
    });
    expect(summary.workflowTasks).toBe('10-100, more while the CPU is under 80 %');
  });

  it('a fixed count when the minimum equals the maximum', () => {
    const { tuner, summary } = slots({ TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: '40', TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: '40' });
    expect(tuner).toMatchObject({ workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 40 } });
    expect(summary.workflowTasks).toBe('40 (fixed)');
  });

  it('a maximum under the default minimum is a fixed count, as the setting meant before there was a minimum', () => {
    expect(slots({ TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: '8' }).tuner).toMatchObject({ workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 8 } });
  });

  it('the CPU target and the activity slots as set', () => {
    const { tuner } = slots({ TEMPERED_WORKFLOW_TASK_CPU_TARGET: '0.6', TEMPERED_MAX_CONCURRENT_ACTIVITIES: '50' });
    expect(tuner).toMatchObject({
      workflowTaskSlotSupplier: { tunerOptions: { targetCpuUsage: 0.6 } },
      activityTaskSlotSupplier: { numSlots: 50 },
      localActivityTaskSlotSupplier: { numSlots: 50 },
    });
  });

  it('refuses a minimum above the maximum, naming both settings', () => {
    const result = Schema.safeParse({ TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: '50', TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: '30' });
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({ path: ['TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS'], message: 'the minimum (50) is above TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS (30)' }),
    ]);
    expect(() => workerSlots({ TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: 50, TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: 30, TEMPERED_WORKFLOW_TASK_CPU_TARGET: 0.8, TEMPERED_MAX_CONCURRENT_ACTIVITIES: 200 }))
      .toThrow('TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: the minimum (50) is above TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS (30)');
  });

  it('refuses a CPU target outside (0, 1] and a slot count under 2', () => {
    expect(Schema.safeParse({ TEMPERED_WORKFLOW_TASK_CPU_TARGET: '0' }).success).toBe(false);
    expect(Schema.safeParse({ TEMPERED_WORKFLOW_TASK_CPU_TARGET: '1.5' }).success).toBe(false);
    expect(Schema.safeParse({ TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: '1' }).success).toBe(false);
  });
});
