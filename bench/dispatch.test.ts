import { describe, expect, it } from 'vitest';
import { dispatchWaits } from './dispatch.ts';

const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

describe('dispatchWaits', () => {
  it('gives each task the time from its scheduled event to its started event, by kind', () => {
    const events = [
      { eventId: 1, eventTime: at(10_000) },
      { eventId: 2, eventTime: at(10_000) }, // workflow task scheduled
      { eventId: 3, eventTime: at(10_045), workflowTaskStartedEventAttributes: { scheduledEventId: 2 } },
      { eventId: 4, eventTime: at(10_050) },
      { eventId: 5, eventTime: at(10_050) }, // activity scheduled
      { eventId: 6, eventTime: at(10_051.5), activityTaskStartedEventAttributes: { scheduledEventId: 5 } },
      { eventId: 7, eventTime: at(10_060) },
      { eventId: 8, eventTime: at(10_060) }, // workflow task scheduled
      { eventId: 9, eventTime: at(10_062), workflowTaskStartedEventAttributes: { scheduledEventId: 8 } },
    ];
    const waits = dispatchWaits(events as never);
    expect(waits.workflowTask).toEqual([45, 2]);
    expect(waits.activity).toHaveLength(1);
    expect(waits.activity[0]).toBeCloseTo(1.5, 6);
  });
});
