import { describe, expect, it } from 'vitest';
import { describeReading, machineReference, REFERENCE_WORKLOAD } from './machine-reference.ts';

describe('machine reference', () => {
  it('times the fixed workload in a fresh process: fastest, median and slowest rounds, in order', async () => {
    const reading = await machineReference();
    expect(reading.workload).toBe(REFERENCE_WORKLOAD);
    expect(reading.cpuMs).toBeGreaterThan(0);
    expect(reading.cpuMs).toBeLessThanOrEqual(reading.medianMs);
    expect(reading.medianMs).toBeLessThanOrEqual(reading.maxMs);
    expect(describeReading(reading)).toBe(`${reading.cpuMs} ms (median ${reading.medianMs}, slowest ${reading.maxMs})`);
  });
});
