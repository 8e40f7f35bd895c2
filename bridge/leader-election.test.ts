import { describe, expect, it } from 'vitest';
import { FakeClock, flush } from '../test/fake-clock.ts';
import { LeaderElector, type LeaseClient, type LeaseRecord } from './leader-election.ts';

/** An in-memory Lease with the apiserver's optimistic concurrency (409 on a stale resourceVersion). */
class FakeLease {
  record: LeaseRecord | undefined;
  version = 0;
  failing = false;
  writes = 0;
  client(): LeaseClient {
    const conflict = () => Object.assign(new Error('conflict'), { code: 409 });
    return {
      get: async () => {
        if (this.failing) throw new Error('apiserver unreachable');
        return this.record && { ...this.record };
      },
      create: async (record) => {
        if (this.failing) throw new Error('apiserver unreachable');
        if (this.record) throw conflict();
        this.writes++;
        this.record = { ...record, resourceVersion: String(++this.version) };
        return { ...this.record };
      },
      update: async (record) => {
        if (this.failing) throw new Error('apiserver unreachable');
        if (!this.record || record.resourceVersion !== this.record.resourceVersion) throw conflict();
        this.writes++;
        this.record = { ...record, resourceVersion: String(++this.version) };
        return { ...this.record };
      },
    };
  }
}

function candidate(identity: string, lease: FakeLease, clock: FakeClock, log: string[]) {
  return new LeaderElector({
    identity,
    lease: lease.client(),
    clock,
    onStartedLeading: () => {
      log.push(`${identity} started`);
    },
    onStoppedLeading: () => {
      log.push(`${identity} stopped`);
    },
  });
}

describe('LeaderElector.tryAcquireOrRenew', () => {
  it('creates a missing Lease and holds it', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = candidate('a', lease, clock, []);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
  });

  it('leaves a Lease that is renewed alone, and takes it one lease duration after the renewals stop', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = candidate('a', lease, clock, []);
    const b = candidate('b', lease, clock, []);
    await a.tryAcquireOrRenew();
    for (let t = 0; t < 10; t++) {
      await clock.advance(2_000);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect(await b.tryAcquireOrRenew()).toBe(false);
    }
    // a stops renewing; b first sees the final record now and must wait a whole lease duration from here.
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await clock.advance(14_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await clock.advance(1_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // a notices it lost the Lease.
    expect(await a.tryAcquireOrRenew()).toBe(false);
  });

  it("judges expiry by its own clock, not by the holder's renewTime (clock skew)", async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const b = candidate('b', lease, clock, []);
    // A holder whose clock is an hour behind keeps renewing with old-looking timestamps.
    let skewed = clock.now() - 3_600_000;
    lease.record = { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new Date(skewed).toISOString(), acquireTime: new Date(skewed).toISOString(), leaseTransitions: 0, resourceVersion: '1' };
    for (let t = 0; t < 5; t++) {
      expect(await b.tryAcquireOrRenew()).toBe(false);
      await clock.advance(5_000);
      skewed += 5_000;
      lease.record = { ...lease.record, renewTime: new Date(skewed).toISOString(), resourceVersion: String(t + 2) };
    }
  });

  it('lets exactly one of two candidates win a free Lease', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const results = await Promise.all([candidate('a', lease, clock, []).tryAcquireOrRenew(), candidate('b', lease, clock, []).tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('takes a released Lease at once', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = candidate('a', lease, clock, []);
    const b = candidate('b', lease, clock, []);
    await a.tryAcquireOrRenew();
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await a.release();
    expect(lease.record?.holderIdentity).toBe('');
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });
});

describe('LeaderElector.run', () => {
  it('leads, renews every retry period, and releases on stop', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const log: string[] = [];
    const a = candidate('a', lease, clock, log);
    const stop = new AbortController();
    const running = a.run(stop.signal);
    await clock.advance(0);
    expect(log).toEqual(['a started']);
    expect(a.isLeader).toBe(true);
    const writes = lease.writes;
    await clock.advance(10_000);
    expect(lease.writes - writes).toBe(5);
    stop.abort();
    await running;
    expect(log).toEqual(['a started', 'a stopped']);
    expect(lease.record?.holderIdentity).toBe('');
  });

  it('steps down once it could not renew for the renew deadline, before anyone can take over', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const log: string[] = [];
    const a = candidate('a', lease, clock, log);
    const stop = new AbortController();
    const running = a.run(stop.signal);
    await clock.advance(0);
    lease.failing = true;
    await clock.advance(8_000);
    expect(log).toEqual(['a started']);
    await clock.advance(2_000);
    expect(log).toEqual(['a started', 'a stopped']);
    expect(a.isLeader).toBe(false);
    // 10 s after the last renewal: a has stepped down 5 s before a rival may take the 15 s Lease.
    stop.abort();
    await clock.advance(5_000);
    await running;
  });

  it('a waiting candidate takes over when the leader stops renewing', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const log: string[] = [];
    const a = candidate('a', lease, clock, log);
    const b = candidate('b', lease, clock, log);
    const stopA = new AbortController();
    const stopB = new AbortController();
    const runA = a.run(stopA.signal);
    await clock.advance(0);
    const runB = b.run(stopB.signal);
    await clock.advance(20_000);
    expect(log).toEqual(['a started']);
    expect(b.isLeader).toBe(false);
    expect(b.observedLeader).toBe('a');

    // a dies without releasing (SIGKILL): make its renewals fail and stop it without release.
    lease.failing = true;
    stopA.abort();
    await flush();
    lease.failing = false;
    lease.record = { ...lease.record, holderIdentity: 'a' };
    await runA.catch(() => {});
    const diedAt = clock.now();
    while (!b.isLeader && clock.now() - diedAt < 30_000) await clock.advance(500);
    const tookMs = clock.now() - diedAt;
    expect(b.isLeader).toBe(true);
    expect(tookMs).toBeGreaterThanOrEqual(15_000);
    expect(tookMs).toBeLessThanOrEqual(15_000 + 2 * 2_000 * 2.2);
    stopB.abort();
    await clock.advance(0);
    await runB;
  });
});
