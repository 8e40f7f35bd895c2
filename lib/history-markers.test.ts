/** The SDK core's markers read from a recorded history, and a payload a codec encrypted left unread. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, expect, it } from 'vitest';
import { localActivityData, localActivityOf, patchOf, plainJson } from './history-markers.ts';

const history = historyFromJSON(JSON.parse(readFileSync(fileURLToPath(new URL('../test/replay/histories/host-lifecycle.json', import.meta.url)), 'utf8')));
const markers = (history.events ?? []).map((e) => e.markerRecordedEventAttributes).filter((m) => m !== undefined && m !== null);

describe('history markers', () => {
  it("reads each local activity's type, attempt and times, and each patch's id, from a recorded history", () => {
    const calls = markers.map(localActivityOf).filter((c) => c !== undefined);
    expect(calls.map((c) => c.type)).toEqual(['registerBmc', 'inspectHardware', 'ejectVirtualMedia', 'setPower', 'setPower', 'setPower']);
    for (const c of calls) {
      expect(c.attempt).toBe(1);
      expect(c.completedMs).toBeGreaterThan(Date.UTC(2026, 0, 1));
      expect(Math.abs((c.completedMs ?? 0) - (c.scheduledMs ?? 0))).toBeLessThan(60_000);
    }
    const patches = markers.map(patchOf).filter((p) => p !== undefined);
    expect(patches).toContain('inline-bmc-operations');
    expect(patches.length + calls.length).toBe(markers.length);
  });

  it('reads a marker decoded elsewhere, and leaves an encrypted payload unread', () => {
    expect(localActivityData({ activity_type: 'setPower', attempt: 3, complete_time: { seconds: 2, nanos: 5_000_000 } })).toEqual({ type: 'setPower', attempt: 3, completedMs: 2005 });
    expect(localActivityData(undefined)).toEqual({ type: '', attempt: 1 });
    const encrypted = { metadata: { encoding: Buffer.from('binary/encrypted') }, data: Buffer.from('{"secret":1}') };
    expect(plainJson(encrypted)).toBeUndefined();
    expect(plainJson({ ...encrypted, metadata: { encoding: Buffer.from('json/plain') } })).toEqual({ secret: 1 });
  });
});
