import { describe, expect, it } from 'vitest';
import { SharedExclusiveLock, leaseBmcLock, leasedBmcLocks } from './lock.ts';

/** A call that records when it started and ended, and ends when `finish()` is called. */
function gate(log: string[], name: string): { fn: () => Promise<void>; finish: () => void } {
  let finish = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    fn: async () => {
      log.push(`${name}+`);
      await done;
      log.push(`${name}-`);
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SharedExclusiveLock', () => {
  it('runs shared holders together and an exclusive one alone, in arrival order', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const [a, b, x, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'x'), gate(log, 'c')];
    const runs = [lock.run(false, a.fn), lock.run(false, b.fn), lock.run(true, x.fn), lock.run(false, c.fn)];
    await settle();
    expect(log).toEqual(['a+', 'b+']);
    a.finish();
    await settle();
    // c arrived after x: it waits behind it instead of joining a and b.
    expect(log).toEqual(['a+', 'b+', 'a-']);
    b.finish();
    await settle();
    expect(log).toEqual(['a+', 'b+', 'a-', 'b-', 'x+']);
    x.finish();
    await settle();
    expect(log.slice(-2)).toEqual(['x-', 'c+']);
    c.finish();
    await Promise.all(runs);
  });

  it('goes on after a holder that throws', async () => {
    const lock = new SharedExclusiveLock();
    await expect(lock.run(true, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lock.run(true, async () => 'next')).resolves.toBe('next');
  });
});

describe('leaseBmcLock', () => {
  it('serialises calls to one Manager, lets two Managers overlap, and forgets the endpoint when released', async () => {
    const one = leaseBmcLock('test|bmc:443');
    const two = leaseBmcLock('test|bmc:443');
    const log: string[] = [];
    const [a1, a2, b1] = [gate(log, 'a1'), gate(log, 'a2'), gate(log, 'b1')];
    const runs = [one.run(a1.fn, '/redfish/v1/Managers/A'), one.run(a2.fn, '/redfish/v1/Managers/A'), two.run(b1.fn, '/redfish/v1/Managers/B')];
    await settle();
    expect(log).toEqual(['a1+', 'b1+']);
    a1.finish();
    b1.finish();
    await settle();
    expect(log).toContain('a2+');
    a2.finish();
    await Promise.all(runs);
    one.release();
    two.release();
    expect(leasedBmcLocks()).toBe(0);
  });
});
