import { describe, expect, it } from 'vitest';
import { InFlightLimit } from './in-flight.ts';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InFlightLimit', () => {
  it('lets `limit` callers in at once and the rest in arrival order as places come back', async () => {
    const limit = new InFlightLimit(2);
    const order: string[] = [];
    const take = (name: string) => limit.acquire().then((release) => (order.push(name), release));
    const a = await take('a');
    const b = await take('b');
    const c = take('c');
    const d = take('d');
    await turn();
    expect(order).toEqual(['a', 'b']);
    expect([limit.inFlight, limit.queued]).toEqual([2, 2]);
    b();
    await turn();
    expect(order).toEqual(['a', 'b', 'c']);
    a();
    a(); // a second release of the same place gives nothing back
    await turn();
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect([limit.inFlight, limit.queued]).toEqual([2, 0]);
    (await c)();
    (await d)();
    expect(limit.inFlight).toBe(0);
  });
});
