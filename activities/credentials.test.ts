/**
 * The credentials cache: how long a BMC password read from its Secret stays in the worker's memory. The TTL
 * bounds it, on a fake clock: an expired entry is gone (password and all), whether or not anything reads.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cachingCredentialsSource, type ResolvedCredentials } from './credentials.ts';

const TTL = 30_000;

/** A Secret store that counts reads; each read of a Secret returns its current password. */
function secrets() {
  const reads: string[] = [];
  const passwords = new Map<string, string>([['ns/a', 'password-a'], ['ns/b', 'password-b']]);
  const fetch = (namespace: string, name: string): Promise<ResolvedCredentials> => {
    const key = `${namespace}/${name}`;
    reads.push(key);
    return Promise.resolve({ username: 'admin', password: passwords.get(key) ?? '', version: String(reads.length) });
  };
  return { reads, passwords, fetch };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('cachingCredentialsSource', () => {
  it('serves a Secret from memory within the TTL, and reads again when asked for fresh or another version', async () => {
    const store = secrets();
    const source = cachingCredentialsSource(store.fetch, TTL);
    expect((await source.read('ns', 'a')).password).toBe('password-a');
    vi.advanceTimersByTime(TTL - 1);
    expect((await source.read('ns', 'a')).password).toBe('password-a');
    expect(store.reads).toEqual(['ns/a']);
    await source.read('ns', 'a', { fresh: true });
    await source.read('ns', 'a', { expectedVersion: '99' });
    expect(store.reads).toEqual(['ns/a', 'ns/a', 'ns/a']);
  });

  it('drops an expired entry, password and all, without any read (the timer)', async () => {
    const store = secrets();
    const source = cachingCredentialsSource(store.fetch, TTL);
    await source.read('ns', 'a');
    expect(source.cachedSecrets()).toEqual(['ns/a']);
    vi.advanceTimersByTime(TTL);
    expect(source.cachedSecrets()).toEqual([]);
    // Nothing cached, nothing scheduled: an idle worker keeps no timer either.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('drops expired entries on the next read of any Secret, and reads an expired one again', async () => {
    const store = secrets();
    const source = cachingCredentialsSource(store.fetch, TTL);
    await source.read('ns', 'a');
    vi.setSystemTime(Date.now() + TTL); // the clock moves, the timer has not fired yet
    await source.read('ns', 'b');
    expect(source.cachedSecrets()).toEqual(['ns/b']);
    store.passwords.set('ns/a', 'password-a2');
    expect((await source.read('ns', 'a')).password).toBe('password-a2');
    expect(store.reads).toEqual(['ns/a', 'ns/b', 'ns/a']);
  });
});
