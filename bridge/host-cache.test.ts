import { describe, expect, it } from 'vitest';
import { HostCache } from './host-cache.ts';
import type { HostObject } from './objects.ts';

const host = (rv: string, status: string, uid = 'u1'): HostObject => ({ metadata: { name: 'h', namespace: 'ns', uid, resourceVersion: rv }, status: { operationalStatus: status } });

describe('HostCache', () => {
  it('serves our own write until the watch delivers it, then the informer again', () => {
    const informer = new Map([['ns/h', host('1', 'A')]]);
    const cache = new HostCache({ get: (k) => informer.get(k) });
    cache.wrote(host('2', 'B'));
    expect(cache.get('ns/h')?.status?.['operationalStatus']).toBe('B');
    // An older event arrives first: the overlay stays.
    cache.observed('update', host('1', 'A'));
    expect(cache.get('ns/h')?.status?.['operationalStatus']).toBe('B');
    informer.set('ns/h', host('2', 'B'));
    cache.observed('update', host('2', 'B'));
    informer.set('ns/h', host('3', 'C'));
    expect(cache.get('ns/h')?.status?.['operationalStatus']).toBe('C');
  });

  it('does not overlay a write whose own event already arrived (the event beat the response)', () => {
    const informer = new Map([['ns/h', host('2', 'B')]]);
    const cache = new HostCache({ get: (k) => informer.get(k) });
    cache.observed('update', host('2', 'B'));
    // The user deletes the status right after: the informer has it before our response is processed.
    informer.set('ns/h', host('3', 'gone'));
    cache.observed('update', host('3', 'gone'));
    cache.wrote(host('2', 'B'));
    expect(cache.get('ns/h')?.status?.['operationalStatus']).toBe('gone');
  });

  it('drops the overlay when the object is deleted or re-created', () => {
    const informer = new Map<string, HostObject>();
    const cache = new HostCache({ get: (k) => informer.get(k) });
    cache.wrote(host('2', 'B'));
    cache.observed('delete', host('2', 'B'));
    expect(cache.get('ns/h')).toBeUndefined();
    cache.wrote(host('3', 'B'));
    informer.set('ns/h', host('9', 'new', 'u2'));
    cache.observed('add', host('9', 'new', 'u2'));
    expect(cache.get('ns/h')?.metadata.uid).toBe('u2');
  });

  it('forgets an overlay the watch never confirmed (a relist skipped it) after its time limit', () => {
    let now = 0;
    const informer = new Map([['ns/h', host('5', 'later')]]);
    const cache = new HostCache({ get: (k) => informer.get(k) }, { ttlMs: 1000, now: () => now });
    cache.wrote(host('4', 'ours'));
    expect(cache.get('ns/h')?.status?.['operationalStatus']).toBe('ours');
    now = 1000;
    expect(cache.get('ns/h')?.status?.['operationalStatus']).toBe('later');
  });
});
